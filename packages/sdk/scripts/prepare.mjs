// `prepare`: builds dist/ when the repository is installed (`npm ci`, `npm install`) and before the
// package is packed. A production install of the repository (`npm ci --omit=dev`) has no
// TypeScript, and the service does not need this build (it runs the SDK's sources): it is skipped
// there with a note. Packing without TypeScript fails rather than make a package without dist/.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  const packing = ['pack', 'publish'].includes(process.env.npm_command ?? '');
  console.error(`@rivya/sdk: TypeScript is not installed (a production install?), so dist/ is not built.${packing ? '' : ' Install the devDependencies to use the SDK from here.'}`);
  process.exit(packing ? 1 : 0);
}
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: packageDir, stdio: 'inherit' });
