import { readFileSync, readdirSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { Command } from 'commander';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { registerServe } from '../src/cli/serve.ts';
import { registerWorker } from '../src/cli/worker.ts';
import { allRoutes } from '../src/api/routes/index.ts';
import { appConfigFromEnv } from '../src/api/services.ts';

/*
 * The Dockerfile and compose.yaml cannot be built here (no Docker daemon, no image registry), so
 * they are checked against the code: the commands they run exist, the ports and environment
 * variables are those the code reads, and the image holds every file the program needs at runtime.
 */

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((f) => `${dir}/${f}`);
}

const dockerfile = readFileSync('Dockerfile', 'utf8');
const compose = parse(readFileSync('compose.yaml', 'utf8'), { merge: true }) as {
  services: Record<string, Record<string, any>>;
};
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  scripts: Record<string, string>;
};
const program = new Command();
registerServe(program);
registerWorker(program);

/** Checks `args` against the CLI: a command it registers, and only options that command takes. */
function checkCommand(args: string[]): void {
  const [name, ...options] = args;
  const command = program.commands.find((c) => c.name() === name);
  expect(command, `ledgerlink ${name}`).toBeDefined();
  const known = new Set(command!.options.map((o) => o.long));
  for (const o of options.filter((a) => a.startsWith('--'))) expect(known, `ledgerlink ${name} ${o}`).toContain(o);
}

/** The JSON-array instruction of the Dockerfile (`CMD ["serve"]`). */
function instruction(name: string): string[] {
  const line = dockerfile.split('\n').find((l) => l.startsWith(`${name} `));
  expect(line, name).toBeDefined();
  return JSON.parse(line!.slice(name.length + 1)) as string[];
}

/** The top-level paths the Dockerfile copies into the image. */
const copied = dockerfile
  .split('\n')
  .filter((l) => l.startsWith('COPY '))
  .flatMap((l) => l.split(/\s+/).slice(1, -1));

describe('Dockerfile', () => {
  it('builds on node:20-bookworm-slim with production dependencies only, and runs as a non-root user', () => {
    expect(dockerfile).toMatch(/^FROM node:20-bookworm-slim$/m);
    expect(dockerfile).toMatch(/^RUN npm ci --omit=dev\b/m);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^VOLUME \["\/data"\]$/m);
    expect(dockerfile).toMatch(/LEDGERLINK_DATA_DIR=\/data/);
  });

  it('runs bin/ledgerlink.js with the flags of `npm start`, `serve` by default, a CLI command', () => {
    const entry = instruction('ENTRYPOINT');
    expect(`${entry.join(' ')} serve`).toBe(pkg.scripts.start);
    expect(instruction('CMD')).toEqual(['serve']);
    checkCommand(instruction('CMD'));
  });

  it('copies every file the program reads at runtime, and .dockerignore keeps none of them out', () => {
    for (const path of ['package.json', 'package-lock.json', 'tsconfig.json', 'bin', 'src', 'migrations'])
      expect(copied, path).toContain(path);
    const ignored = readFileSync('.dockerignore', 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
    for (const path of copied) expect(ignored, path).not.toContain(path);
    for (const secret of ['.env', '.git', 'node_modules', 'data']) expect(ignored).toContain(secret);
  });

  it('needs no devDependency at runtime: the TypeScript runs through tsx, a dependency', () => {
    expect(pkg.dependencies.tsx).toBeDefined();
    const builtins = new Set(builtinModules);
    const runtime = [
      'bin/ledgerlink.js',
      ...listFiles('src').filter((f) => /\.tsx?$/.test(f) && !/\.test\.tsx?$|simulator/.test(f)),
    ];
    const missing: string[] = [];
    for (const file of runtime) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(
        /^\s*(?:import|export)\s(?!type\s)[^'"]*?from\s+'([^'.][^']*)'|import\('([^'.][^']*)'\)/gm,
      )) {
        const spec = (m[1] ?? m[2])!;
        if (spec.startsWith('node:') || builtins.has(spec)) continue;
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        if (!pkg.dependencies[name]) missing.push(`${file}: ${spec}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('checks /health, a route without authentication, on the port the server listens on', () => {
    const health = allRoutes.find((r) => r.path === '/health');
    expect(health?.auth).toBe('none');
    expect(dockerfile).toMatch(/HEALTHCHECK [\s\S]*\/health/);
    expect(dockerfile).toMatch(/^EXPOSE 3000$/m);
    expect(dockerfile).toMatch(/PORT=3000/);
    expect(appConfigFromEnv({}).port).toBe(3000);
  });
});

describe('compose.yaml', () => {
  const { postgres, api, worker } = compose.services;

  it('has PostgreSQL 16 with a health check, one API and two workers that wait for it', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['api', 'postgres', 'worker']);
    expect(postgres!.image).toBe('postgres:16');
    expect(postgres!.healthcheck.test.join(' ')).toContain('pg_isready');
    for (const s of [api!, worker!]) {
      expect(s.build).toBe('.');
      expect(s.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
    }
    expect(api!.deploy?.replicas ?? 1).toBe(1);
    expect(worker!.deploy.replicas).toBe(2);
  });

  it('runs commands and options the CLI has: `serve --no-worker` for the API, `worker`', () => {
    expect(api!.command).toEqual(['serve', '--no-worker', '--no-demo']);
    checkCommand(api!.command);
    expect(worker!.command).toEqual(['worker']);
    checkCommand(worker!.command);
  });

  it('sets only environment variables the code reads, the database and key from .env, the API on its port', () => {
    const source = listFiles('src')
      .filter((f) => /\.tsx?$/.test(f))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    for (const s of [api!, worker!]) {
      expect(s.environment.DATABASE_URL).toMatch(
        /^postgres:\/\/ledgerlink:\$\{POSTGRES_PASSWORD:\?.*\}@postgres:5432\/ledgerlink$/,
      );
      expect(s.environment.LEDGERLINK_ENCRYPTION_KEY).toMatch(/^\$\{LEDGERLINK_ENCRYPTION_KEY:\?/);
      for (const name of Object.keys(s.environment)) expect(source, name).toMatch(new RegExp(`\\b${name}\\b`));
    }
    expect(api!.environment.PORT).toBe('3000');
    expect(api!.ports).toEqual(['3000:3000']);
    expect(appConfigFromEnv({ PORT: api!.environment.PORT }).port).toBe(3000);
    expect(postgres!.environment.POSTGRES_USER).toBe('ledgerlink');
    expect(postgres!.environment.POSTGRES_DB).toBe('ledgerlink');
  });
});
