#!/usr/bin/env bash
# Installs the package as a user would and uses it: packs the tarball (or
# takes the one given as $1), installs it into a scratch app outside the
# repository with only the peers the README's Install line names (SQLite
# driver, no ioredis, no lmdb), checks what the tarball ships, type-checks
# .ci/consumer/src with skipLibCheck false, boots it and counts one HTTP
# request into SQLite. Exits non-zero on any failure.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
scratch="$(mktemp -d "${TMPDIR:-/tmp}/wb-consumer-XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

if [ $# -gt 0 ]; then
  tarball="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
else
  (cd "$repo" && npm pack --silent --pack-destination "$scratch" >/dev/null)
  tarball="$(ls "$scratch"/nestjs-write-buffer-*.tgz)"
fi
echo "consumer check: $tarball in $scratch"

cp -R "$repo/.ci/consumer/." "$scratch/app"
cd "$scratch/app"
# The README's Install line, with better-sqlite3 as the driver; then what
# any Nest HTTP app has (platform-express) and its compiler.
npm install --no-audit --no-fund --loglevel=error \
  "$tarball" @nestjs/common@12 @nestjs/core@12 @nestjs/schedule@12 @nestjs/typeorm@12 \
  typeorm@1 reflect-metadata rxjs better-sqlite3@12 @nestjs/platform-express@12
npm install --no-audit --no-fund --loglevel=error --save-dev typescript@~5.9 @types/node@20

for optional in ioredis lmdb @opentelemetry/api @nestjs/event-emitter @nestjs/terminus; do
  if [ -e "node_modules/$optional" ]; then
    echo "consumer check: $optional was installed, but the README names it optional" >&2
    exit 1
  fi
done

# What the tarball ships: a .d.ts beside every .js, no test, sample or bench
# output, and every source a source map names present in the package.
node - node_modules/nestjs-write-buffer <<'JS'
const { existsSync, readdirSync, readFileSync, statSync } = require('node:fs');
const { dirname, join, relative, resolve } = require('node:path');
const root = process.argv[2];
const files = readdirSync(root, { recursive: true }).map(String);
const problems = [];
for (const file of files) {
  if (/(^|\/)(test|sample-app|bench)\//.test(file) || /\.spec\./.test(file)) {
    problems.push(`${file} is not part of the library`);
  }
  if (file.endsWith('.js') && !files.includes(file.replace(/\.js$/, '.d.ts'))) {
    problems.push(`${file} has no .d.ts`);
  }
  if (file.endsWith('.map')) {
    const map = JSON.parse(readFileSync(join(root, file), 'utf8'));
    for (const source of map.sources) {
      const path = resolve(root, dirname(file), map.sourceRoot ?? '', source);
      if (!existsSync(path)) problems.push(`${file} names ${relative(root, path)}, not shipped`);
    }
  }
}
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
for (const target of [pkg.main, pkg.types, ...Object.values(pkg.exports).flatMap((e) => (typeof e === 'string' ? [e] : Object.values(e)))]) {
  if (!existsSync(join(root, target))) problems.push(`package.json names ${target}, not shipped`);
}
if (!files.includes('LICENSE')) problems.push('no LICENSE');
if (problems.length) {
  console.error(`consumer check: the tarball is not as intended:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`consumer check: ${files.filter((f) => statSync(join(root, f)).isFile()).length} files shipped, each .js with its .d.ts`);
JS

npx tsc -p tsconfig.json
mkdir -p data
CONSUMER_DATA_DIR="$scratch/app/data" node dist/main.js
echo "consumer check: passed"
