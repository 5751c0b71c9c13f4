#!/usr/bin/env bash
# A copy of Ferry's built packages with one text replacement in one dist file, for checking that
# a fault scenario can fail (docs/faults.md). Prints the copy's CLI, for FERRY_FAULTS_CLI:
#
#   cli=$(integration/faults/support/patched-build.sh ack-before-write spool/dist/spool.js \
#         'this.#group.push({ key, value, resolve, reject });' \
#         'this.#group.push({ key, value, resolve: () => undefined, reject: () => undefined }); resolve();')
#   FERRY_FAULTS_CLI=$cli node --experimental-vm-modules node_modules/jest/bin/jest.js --selectProjects faults --runInBand --testPathPatterns spool-kill
#
# The copy lives in ${FERRY_PATCHED_DIR:-/tmp/ferry-patched}/<name>: packages/ copied, node_modules
# linking every dependency of the checkout except @ferry/*, which points at the copies, so the
# patched package is the one every other package imports. Run `npx tsc -b` first. The old text
# must occur exactly once.
set -euo pipefail
if [ $# -ne 4 ]; then
  echo "usage: $0 <name> <file under packages/> <old text> <new text>" >&2
  exit 2
fi
name=$1 file=$2 old=$3 new=$4
root=$(cd "$(dirname "$0")/../../.." && pwd)
dest=${FERRY_PATCHED_DIR:-/tmp/ferry-patched}/$name
rm -rf "$dest"
mkdir -p "$dest/node_modules"
cp -a "$root/packages" "$dest/packages"
for entry in "$root"/node_modules/* "$root"/node_modules/.bin; do
  base=$(basename "$entry")
  [ "$base" = "@ferry" ] || ln -s "$entry" "$dest/node_modules/$base"
done
cp -a "$root/node_modules/@ferry" "$dest/node_modules/@ferry" # relative links: ../../packages/<pkg>
python3 - "$dest/packages/$file" "$old" "$new" <<'PY'
import sys
path, old, new = sys.argv[1:4]
text = open(path).read()
n = text.count(old)
if n != 1:
    sys.exit(f"{path}: the old text occurs {n} times, expected once")
open(path, "w").write(text.replace(old, new))
PY
echo "$dest/packages/gateway/dist/cli.js"
