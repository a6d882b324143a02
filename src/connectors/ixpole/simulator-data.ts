/*
 * The data behind the iXpole simulator: customers, products and instalments generated from a
 * seed. Instalments are never stored as objects: instalment i is computed from (seed, i) when a
 * page shows it, and the server keeps one byte of state per instalment, so 100,000 of them cost
 * about 100 KB plus what has been written back.
 */

import { seeded as prng } from '../../sync/seeded.ts';
export { seeded as prng } from '../../sync/seeded.ts';

function pick<T>(r: () => number, list: readonly T[]): T {
  return list[Math.floor(r() * list.length)]!;
}

export interface SimCustomer {
  CustomerId: number;
  CustomerCode: string | null;
  Name: string;
  Email: string | null;
  Street: string | null;
  PostalCode: string | null;
  City: string | null;
  Country: string | null;
  VatNumber: string | null;
  Language: string | null;
}

export interface SimProduct {
  ProductId: number;
  Code: string;
  Name: string;
  VatRate: string;
  GlAccount: string | null;
  /** Not part of the API: the product's full price in cents, which instalments divide. */
  priceCents: bigint;
}

export interface SimInstalment {
  InstalmentCode: string;
  CustomerId: number;
  ProductId: number;
  ContractNumber: string;
  Description: string;
  InvoiceDate: string;
  DueDate: string;
  Currency: string;
  NetAmount: string;
  VatRate: string;
  VatAmount: string;
}

const FIRST = [
  'Anna',
  'Bart',
  'Chloé',
  'Dries',
  'Elise',
  'Femke',
  'Gilles',
  'Hanne',
  'Ilias',
  'Jana',
  'Kobe',
  'Lotte',
  'Mehdi',
  'Nora',
  'Olivier',
  'Pieter',
];
const LAST = [
  'Peeters',
  'Janssens',
  'Maes',
  'Jacobs',
  'Mertens',
  'Willems',
  'Claes',
  'Goossens',
  'Wouters',
  'De Smet',
  'Dubois',
  'Lambert',
  'Dupont',
  'Martin',
];
const COMPANIES = ['Brasserie', 'Bakkerij', 'Garage', 'Apotheek', 'Drukkerij', 'Bouwbedrijf', 'Immo', 'Transport'];
const STREETS = [
  'Kerkstraat',
  'Stationsstraat',
  'Rue de la Gare',
  'Dorpsstraat',
  'Molenstraat',
  'Avenue Louise',
  'Nieuwstraat',
  'Schoolstraat',
];
const CITIES: [string, string][] = [
  ['2000', 'Antwerpen'],
  ['9000', 'Gent'],
  ['1000', 'Brussel'],
  ['3000', 'Leuven'],
  ['4000', 'Liège'],
  ['8000', 'Brugge'],
  ['2800', 'Mechelen'],
  ['3500', 'Hasselt'],
];
const PRODUCTS: { code: string; name: string; euros: number }[] = [
  { code: 'SEASON', name: 'Season ticket', euros: 480 },
  { code: 'MEMBER', name: 'Club membership', euros: 120 },
  { code: 'BUSINESS', name: 'Business seat', euros: 2450 },
  { code: 'YOUTH', name: 'Youth academy fee', euros: 350 },
  { code: 'PARKING', name: 'Season parking', euros: 90 },
  { code: 'LODGE', name: 'Lodge rental', euros: 12500 },
  { code: 'CAMP', name: 'Summer camp', euros: 185 },
  { code: 'SPONSOR', name: 'Sponsorship package', euros: 5000 },
];

export function generateCustomers(seed: number, n: number): SimCustomer[] {
  const out: SimCustomer[] = [];
  for (let id = 1; id <= n; id++) {
    const r = prng(seed * 7919 + id);
    const company = r() < 0.2;
    const last = pick(r, LAST);
    const name = company ? `${pick(r, COMPANIES)} ${last}` : `${pick(r, FIRST)} ${last}`;
    const [postalCode, city] = pick(r, CITIES);
    out.push({
      CustomerId: id,
      // Some clubs keep their own customer codes; most leave it to the accounting system.
      CustomerCode: id % 3 === 0 ? `IX${String(id).padStart(5, '0')}` : null,
      Name: name,
      Email: r() < 0.9 ? `${name.toLowerCase().replace(/[^a-z]+/g, '.')}${id}@example.be` : null,
      Street: `${pick(r, STREETS)} ${1 + Math.floor(r() * 150)}`,
      PostalCode: postalCode,
      City: city,
      Country: 'BE',
      VatNumber: company ? `BE0${String(Math.floor(r() * 1e9)).padStart(9, '0')}` : null,
      Language: pick(r, ['nl', 'nl', 'fr', 'en']),
    });
  }
  return out;
}

export function generateProducts(seed: number, m: number, vatRates: readonly string[]): SimProduct[] {
  const out: SimProduct[] = [];
  for (let id = 1; id <= m; id++) {
    const base = PRODUCTS[(id - 1) % PRODUCTS.length]!;
    const round = Math.floor((id - 1) / PRODUCTS.length);
    const r = prng(seed * 104729 + id);
    out.push({
      ProductId: id,
      Code: round === 0 ? base.code : `${base.code}-${round + 1}`,
      Name: round === 0 ? base.name : `${base.name} ${round + 1}`,
      VatRate: vatRates[(id - 1) % vatRates.length]!,
      GlAccount: r() < 0.5 ? '4000' : null,
      priceCents: BigInt(base.euros * 100 + Math.floor(r() * 20) * 500),
    });
  }
  return out;
}

/** Cents as a decimal string: 12345n → "123.45". */
export function formatCents(cents: bigint): string {
  const neg = cents < 0n;
  const abs = neg ? -cents : cents;
  return `${neg ? '-' : ''}${abs / 100n}.${String(abs % 100n).padStart(2, '0')}`;
}

/** net × rate in cents, rounded half up, without a float: "0.21" is read as 21/100. */
export function vatCents(netCents: bigint, rate: string): bigint {
  const [whole = '0', frac = ''] = rate.split('.');
  const den = 10n ** BigInt(frac.length);
  const num = BigInt(whole) * den + BigInt(frac || '0');
  return (netCents * num * 2n + den) / (2n * den);
}

function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

export function instalmentCode(index: number): string {
  return `INS-${String(index + 1).padStart(7, '0')}`;
}

/** The index of a generated InstalmentCode, or null for one this simulator never made. */
export function instalmentIndex(code: string, count: number): number | null {
  const m = /^INS-(\d{7,})$/.exec(code);
  if (!m) return null;
  const i = Number(m[1]) - 1;
  return i >= 0 && i < count ? i : null;
}

/** Instalment i, the same for a given seed every time it is asked for. */
export function generateInstalment(
  seed: number,
  index: number,
  customers: number,
  products: readonly SimProduct[],
  firstDate: string,
  currency: string,
): SimInstalment {
  const r = prng((seed * 2654435761 + index * 40503) >>> 0);
  const product = pick(r, products);
  const customerId = 1 + Math.floor(r() * customers);
  const of = pick(r, [1, 2, 4, 10]);
  const n = 1 + (index % of);
  const netCents = product.priceCents / BigInt(of);
  const invoiceDate = addDays(firstDate, Math.floor(r() * 300));
  return {
    InstalmentCode: instalmentCode(index),
    CustomerId: customerId,
    ProductId: product.ProductId,
    ContractNumber: `C2026-${String(1 + Math.floor(index / 3)).padStart(6, '0')}`,
    Description: of === 1 ? `${product.Name} 2026-2027` : `${product.Name} 2026-2027, instalment ${n}/${of}`,
    InvoiceDate: invoiceDate,
    DueDate: addDays(invoiceDate, 30),
    Currency: currency,
    NetAmount: formatCents(netCents),
    VatRate: product.VatRate,
    VatAmount: formatCents(vatCents(netCents, product.VatRate)),
  };
}

/**
 * Which instalments are still listed, with the k-th listed one found in O(log n) (a Fenwick
 * tree over 0/1 flags), so paging stays cheap however many have been invoiced before it.
 */
export class OpenSet {
  private readonly tree: Int32Array;
  private readonly open: Uint8Array;
  private readonly n: number;
  private count: number;

  constructor(n: number) {
    this.n = n;
    this.open = new Uint8Array(n).fill(1);
    this.tree = new Int32Array(n + 1);
    // Linear build: each node adds itself to its parent.
    for (let i = 1; i <= n; i++) {
      this.tree[i]! += 1;
      const parent = i + (i & -i);
      if (parent <= n) this.tree[parent]! += this.tree[i]!;
    }
    this.count = n;
  }

  get size(): number {
    return this.count;
  }

  isOpen(i: number): boolean {
    return this.open[i] === 1;
  }

  close(i: number): void {
    if (this.open[i] !== 1) return;
    this.open[i] = 0;
    this.count--;
    for (let x = i + 1; x <= this.n; x += x & -x) this.tree[x]! -= 1;
  }

  /** The index of the k-th open item (k from 0), or -1 past the end. */
  nth(k: number): number {
    if (k < 0 || k >= this.count) return -1;
    let pos = 0;
    let remaining = k + 1;
    for (let step = 1 << Math.floor(Math.log2(this.n)); step > 0; step >>= 1) {
      const next = pos + step;
      if (next <= this.n && this.tree[next]! < remaining) {
        pos = next;
        remaining -= this.tree[next]!;
      }
    }
    return pos;
  }
}
