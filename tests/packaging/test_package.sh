#!/usr/bin/env bash
# CTest `package_install`: builds the Debian package from this build tree (CPack), unpacks it into a
# throwaway root with `dpkg -x`, and runs the installed programs from there: `--version` (the CMake project
# version) and `shedder-cli eval` on the installed demo model, which must find its data relative to the
# executable. Checks the generated man page (a section per command, no groff warnings) and bash completion, that
# no build- or source-tree path is compiled into the programs, and runs lintian (any error fails; warnings are
# printed).
#   test_package.sh BUILD_DIR SOURCE_DIR VERSION
set -euo pipefail
build=$1 src=$2 version=$3
cd "$build"
rm -f mamba-shedder_*.deb
cpack -G DEB > cpack.log 2>&1 || { cat cpack.log; exit 1; }
deb=$(ls mamba-shedder_*.deb)
echo "package: $deb ($(du -h "$deb" | cut -f1))"
echo "Depends: $(dpkg-deb -f "$deb" Depends)"
root=$(mktemp -d /tmp/shedder-pkg-XXXXXX)
trap 'rm -rf "$root"' EXIT
dpkg -x "$deb" "$root"
unset SHEDDER_RESOURCES_DIR

for f in usr/bin/shedder-cli usr/share/applications/mamba-shedder.desktop \
         usr/share/icons/hicolor/scalable/apps/mamba-shedder.svg usr/share/man/man1/shedder-cli.1.gz \
         usr/share/bash-completion/completions/shedder-cli \
         usr/share/doc/mamba-shedder/copyright usr/share/mamba-shedder/demo/mamba1/model.safetensors \
         usr/share/mamba-shedder/demo/mamba2/config.json usr/share/mamba-shedder/demo/corpus/test.jsonl \
         usr/share/mamba-shedder/demo/tasks/demo_continuation.jsonl usr/share/mamba-shedder/demo/tasks/demo_cloze.jsonl \
         usr/share/mamba-shedder/help/user-guide.html; do
  [ -e "$root/$f" ] || { echo "FAIL: the package lacks /$f"; exit 1; }
done

# The man page and the bash completion, generated from the option tables at build time: the man page is not empty,
# renders without warnings and has a section for every command the installed program lists; the completion
# script completes command names and options.
cli="$root/usr/bin/shedder-cli"
man="$root/usr/share/man/man1/shedder-cli.1.gz"
completion="$root/usr/share/bash-completion/completions/shedder-cli"
[ -s "$man" ] && [ "$(zcat "$man" | wc -l)" -gt 50 ] || { echo "FAIL: the shedder-cli man page is empty"; exit 1; }
commands=$("$cli" --help | sed -n '/^commands:/,/^$/p' | awk '/^  [a-z]/ {print $1}')
[ "$(echo "$commands" | wc -w)" -gt 10 ] || { echo "FAIL: shedder-cli --help lists no commands: $commands"; exit 1; }
zcat "$man" > "$root/man.txt"
for c in $commands; do
  section=".SS $(printf '%s' "$c" | sed 's/-/\\-/g')"  # roff: create\-model
  # grep reads a file, not a pipe: `zcat | grep -q` under pipefail fails when grep stops early and zcat gets SIGPIPE
  grep -qxF "$section" "$root/man.txt" || { echo "FAIL: the man page has no section for $c"; exit 1; }
done
if command -v groff > /dev/null; then
  warnings=$(zcat "$man" | groff -man -ww -z 2>&1)
  [ -z "$warnings" ] || { echo "FAIL: groff warns about the man page: $warnings"; exit 1; }
fi
echo "man page: $(zcat "$man" | wc -l) lines, $(echo "$commands" | wc -w) commands"
[ -s "$completion" ] || { echo "FAIL: the package lacks the bash completion"; exit 1; }
got=$(bash -c 'source "$1"; COMP_WORDS=(shedder-cli sea); COMP_CWORD=1; _shedder_cli; echo "${COMPREPLY[*]}"
               COMP_WORDS=(shedder-cli search MODEL --calib-t); COMP_CWORD=3; _shedder_cli; echo "${COMPREPLY[*]}"' \
      _ "$completion")
[ "$got" = "$(printf 'search\n--calib-text --calib-tokens')" ] || { echo "FAIL: bash completion gave: $got"; exit 1; }
echo "bash completion: OK"

out=$("$root/usr/bin/shedder-cli" --version | head -1)
[ "$out" = "shedder-cli $version" ] || { echo "FAIL: shedder-cli --version printed '$out'"; exit 1; }
echo "$out"
if [ -e "$root/usr/bin/mamba-shedder" ]; then
  out=$(QT_QPA_PLATFORM=offscreen "$root/usr/bin/mamba-shedder" --version 2>&1 | tail -1)
  case "$out" in *"$version"*) echo "$out" ;; *) echo "FAIL: mamba-shedder --version printed '$out'"; exit 1 ;; esac
  [ -e "$root/usr/share/man/man1/mamba-shedder.1.gz" ] || { echo "FAIL: no mamba-shedder man page"; exit 1; }
fi

demo="$root/usr/share/mamba-shedder/demo"
json=$("$root/usr/bin/shedder-cli" eval "$demo/mamba1" --text "$demo/corpus/test.jsonl" --seq-len 256 \
       --max-windows 4 --threads 1 --json 2>/dev/null)
echo "installed eval: $json"
echo "$json" | grep -q '"perplexity"' || { echo "FAIL: no perplexity from the installed shedder-cli"; exit 1; }
# The installed CLI must also find the demo data by itself (resources relative to the executable).
"$root/usr/bin/shedder-cli" info "$demo/mamba2" > /dev/null
json=$("$root/usr/bin/shedder-cli" accuracy "$demo/mamba2" --demo-tasks --max-items 4 --threads 1 --json 2>/dev/null)
echo "installed accuracy: $json"
echo "$json" | grep -q '"demo_cloze"' || { echo "FAIL: the installed shedder-cli found no demo tasks"; exit 1; }
# report draws its figures with Qt on the offscreen platform by itself (no display, no QT_QPA_PLATFORM): the
# package's Qt must bring that plugin.
"$root/usr/bin/shedder-cli" search "$demo/mamba1" --granularity block --steps 1 --calib-text "$demo/corpus/test.jsonl" \
    --seq-len 64 --windows 2 --threads 1 --out "$root/run" > /dev/null 2>&1
env -u QT_QPA_PLATFORM -u DISPLAY -u WAYLAND_DISPLAY "$root/usr/bin/shedder-cli" report "$root/run" --out "$root/report" \
    > /dev/null || { echo "FAIL: the installed shedder-cli report failed"; exit 1; }
[ -s "$root/report/perplexity_vs_removed.png" ] && [ -s "$root/report/variants.tex" ] ||
  { echo "FAIL: the installed shedder-cli report wrote no figure or table"; exit 1; }
echo "installed report: $(ls "$root/report" | wc -l) files"

for exe in "$root"/usr/bin/*; do
  for p in "$build" "$src"; do
    if grep -aq "$p" "$exe"; then echo "FAIL: $exe contains the path $p"; exit 1; fi
  done
done

if command -v lintian > /dev/null; then
  lintian --tag-display-limit 0 "$deb" > lintian.log 2>&1 || true
  echo "lintian: $(grep -c '^E:' lintian.log || true) errors, $(grep -c '^W:' lintian.log || true) warnings"
  grep -E '^(E|W):' lintian.log || true
  if grep -q '^E:' lintian.log; then echo "FAIL: lintian reports errors"; exit 1; fi
else
  echo "lintian not installed; skipped"
fi
echo "package_install: OK"
