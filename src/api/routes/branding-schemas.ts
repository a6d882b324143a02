import { z } from 'zod';
import { bicProblem, ibanProblem, normalizeIban } from '../../domain/iban.ts';
import { Text } from './setup-shared.ts';

const Address = z.strictObject({
  street: Text(200).optional(),
  city: Text(100).optional(),
  postalCode: Text(20).optional(),
  country: Text(100).optional(),
});

const nullable = <T extends z.ZodType>(schema: T, description: string) =>
  schema.nullable().optional().meta({ description });

/**
 * A bank identifier checked here as the ledger checks it (src/ledger/branding.ts), so that a body
 * with several wrong values is refused naming all of them at once; blank clears the field.
 */
const BankCode = (max: number, normalize: (v: string) => string, problemOf: (v: string) => string | null) =>
  Text(max).superRefine((v, ctx) => {
    const value = normalize(v);
    const problem = value ? problemOf(value) : null;
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** A change of the branding: absent fields stay as they are, null (or "") clears one. */
export const BrandingBody = z
  .strictObject({
    companyName: nullable(Text(200), "The name printed on documents (default: the entity's name)."),
    address: nullable(Address, "The address printed on documents (default: the entity's address)."),
    vatNumber: nullable(Text(50), "The VAT number printed on documents (default: the entity's)."),
    logo: nullable(
      z.string().max(1_500_000),
      'A PNG or JPEG image as base64 (a `data:image/png;base64,` prefix is allowed), at most 1 MB decoded and ' +
        '4096 × 4096 pixels. Its type is told from its content; anything else is LOGO_INVALID.',
    ),
    bankName: nullable(Text(100), 'The bank, printed with the payment details.'),
    bankAccountName: nullable(Text(100), 'The name the account is held in.'),
    iban: nullable(
      BankCode(50, normalizeIban, ibanProblem),
      'The IBAN; spaces are allowed and removed, the check digits are checked.',
    ),
    bic: nullable(
      BankCode(20, (v) => v.trim().toUpperCase(), bicProblem),
      'The BIC (8 or 11 characters).',
    ),
    footer: nullable(Text(500), 'A line printed at the foot of every page (registration, terms).'),
  })
  .meta({ description: 'What the PDFs print about the entity; only the fields sent change (docs/ledger.md).' });

/** The branding as saved; null fields fall back to the entity's own name, address and VAT number. */
export const BrandingSchema = z.object({
  companyName: z.string().nullable(),
  address: z
    .object({
      street: z.string().optional(),
      city: z.string().optional(),
      postalCode: z.string().optional(),
      country: z.string().optional(),
    })
    .nullable(),
  vatNumber: z.string().nullable(),
  logo: z
    .object({ contentType: z.enum(['image/png', 'image/jpeg']), size: z.number(), sha256: z.string() })
    .nullable()
    .meta({ description: 'The logo saved (its bytes are not repeated here), or null.' }),
  bankName: z.string().nullable(),
  bankAccountName: z.string().nullable(),
  iban: z.string().nullable().meta({ description: 'Without spaces.' }),
  bic: z.string().nullable(),
  footer: z.string().nullable(),
});
