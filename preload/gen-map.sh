#!/bin/sh
# gen-map.sh - writes the linker version script: export exactly the names in real.def.
set -eu
echo "/* generated from preload/real.def by preload/gen-map.sh */"
echo "{"
echo "  global:"
sed -n 's/^REAL([^,]*, *\([A-Za-z0-9_]*\),.*/    \1;/p' "$1"
# wrappers with no real_ pointer (they build an argv and call execv*)
for n in execl execlp execle; do echo "    $n;"; done
echo "    ckpt_shim_version;"
echo "  local: *;"
echo "};"
