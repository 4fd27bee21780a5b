#!/usr/bin/env bash
# The wall time of two builds of the plugin side by side: one `fathomctl bench cni` run whose ADDs
# go alternately to build A and build B (a wrapper given as --plugin), each ADD timed with bash's
# EPOCHREALTIME around the plugin's process; prints, per mode, the median ADD of each build. Both
# builds see the same machine, the same load, the same agent: only the difference counts (the
# wrapper's own cost is in both).
#
#   sudo [AGENT_CYCLES=120] scripts/plugin-wall-ab.sh A/fathom B/fathom   (root for the lab)
#
# Extra arguments go to `fathomctl bench cni` (defaults: a small profile, lab prefix fwallab).
# scripts/plugin-cpu-ab.sh is the same for the CPU each ADD's process takes.
set -euo pipefail
[[ $# -ge 2 ]] || { sed -n '2,10p' "$0"; exit 2; }
a=$(realpath "$1"); b=$(realpath "$2"); shift 2
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/fathom-wallab.XXXXXX)
trap 'rm -rf "$work"' EXIT
cat > "$work/fathom" <<WRAP
#!/usr/bin/env bash
if [[ "\$CNI_COMMAND" != ADD ]]; then exec "$b"; fi
in=\$(cat)
mode=\$(printf '%s' "\$in" | grep -o '"mode": *"[a-z-]*"' | head -1 | sed 's/.*"\\([a-z-]*\\)"\$/\\1/')
counter="$work/counter.\${mode:-none}"
n=\$(flock "\$counter" sh -c 'n=\$(cat "\$0" 2>/dev/null || echo 0); echo \$((n+1)) > "\$0"; echo \$n' "\$counter")
if (( n % 2 == 0 )); then bin="$a"; tag=A; else bin="$b"; tag=B; fi
started=\$EPOCHREALTIME
rc=0
printf '%s' "\$in" | "\$bin" || rc=\$?
echo "\$started \$EPOCHREALTIME" >> "$work/add.\${mode:-none}.\$tag"
exit \$rc
WRAP
chmod +x "$work/fathom"
dotnet "$top/artifacts/bin/fathomctl.dll" bench cni --plugin "$work/fathom" --cycles 3 --agent-cycles "${AGENT_CYCLES:-120}" \
  --concurrency 8 --rounds 1 --churn-seconds 0 --allocations 20 --lab-prefix fwallab "$@" > "$work/bench.txt" 2>&1 \
  || { tail -20 "$work/bench.txt" >&2; exit 1; }
median() { sort -n | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]; else print "-"}'; }
printf '%-10s %-5s %4s %12s\n' mode build ADDs "median ms"
for mode in underlay shared host-gw overlay; do
  for tag in A B; do
    file="$work/add.$mode.$tag"
    [[ -e $file ]] || continue
    printf '%-10s %-5s %4d %12s\n' "$mode" "$tag" "$(wc -l < "$file")" \
      "$(awk '{printf "%.3f\n", ($2 - $1) * 1000}' "$file" | median)"
  done
done
echo "A = $a"; echo "B = $b"
