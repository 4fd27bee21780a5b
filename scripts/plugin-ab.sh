#!/usr/bin/env bash
# Two builds of the plugin side by side: one `fathomctl bench cni` run whose ADDs go alternately to
# build A and build B (a wrapper given as --plugin); prints, per mode, the median of each build's ADDs:
#   cpu   each ADD's plugin process under `perf stat`: its CPU (task-clock) and page faults
#   wall  each ADD timed with bash's EPOCHREALTIME around the plugin's process (the wrapper's own
#         cost is in both builds' figures)
# Both builds see the same machine, the same load, the same agent: only the difference counts.
#
#   sudo [AGENT_CYCLES=40] scripts/plugin-ab.sh cpu|wall A/fathom B/fathom   (root for the lab; cpu needs perf)
#
# Extra arguments go to `fathomctl bench cni` (defaults: a small profile, lab prefix fpluginab).
set -euo pipefail
[[ $# -ge 3 && ($1 == cpu || $1 == wall) ]] || { sed -n '2,11p' "$0"; exit 2; }
measure=$1; a=$(realpath "$2"); b=$(realpath "$3"); shift 3
[[ $measure == wall ]] || command -v perf >/dev/null || { echo "plugin-ab: cpu needs perf (apt install linux-perf)" >&2; exit 1; }
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/fathom-pluginab.XXXXXX)
trap 'rm -rf "$work"' EXIT
if [[ $measure == cpu ]]; then
  run='printf "%s" "$in" | perf stat -x, -o "$out" -e task-clock,page-faults "$bin"'
else
  run='started=$EPOCHREALTIME; rc=0; printf "%s" "$in" | "$bin" || rc=$?
awk -v a="$started" -v b="$EPOCHREALTIME" "BEGIN { printf \"%.3f\\n\", (b - a) * 1000 }" > "$out"; exit $rc'
fi
cat > "$work/fathom" <<WRAP
#!/usr/bin/env bash
if [[ "\$CNI_COMMAND" != ADD ]]; then exec "$b"; fi
in=\$(cat)
mode=\$(printf '%s' "\$in" | grep -o '"mode": *"[a-z-]*"' | head -1 | sed 's/.*"\\([a-z-]*\\)"\$/\\1/')
counter="$work/counter.\${mode:-none}"
n=\$(flock "\$counter" sh -c 'n=\$(cat "\$0" 2>/dev/null || echo 0); echo \$((n+1)) > "\$0"; echo \$n' "\$counter")
if (( n % 2 == 0 )); then bin="$a"; tag=A; else bin="$b"; tag=B; fi
out="$work/add.\${mode:-none}.\$tag.\$\$"
$run
WRAP
chmod +x "$work/fathom"
dotnet "$top/artifacts/bin/fathomctl.dll" bench cni --plugin "$work/fathom" --cycles 3 --agent-cycles "${AGENT_CYCLES:-40}" \
  --concurrency 8 --rounds 1 --churn-seconds 0 --allocations 20 --lab-prefix fpluginab "$@" > "$work/bench.txt" 2>&1 \
  || { tail -20 "$work/bench.txt" >&2; exit 1; }
median() { sort -n | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]; else print "-"}'; }
if [[ $measure == cpu ]]; then printf '%-10s %-5s %4s %12s %8s\n' mode build ADDs "CPU ms" faults
else printf '%-10s %-5s %4s %12s\n' mode build ADDs "wall ms"; fi
for mode in underlay shared host-gw overlay; do
  for tag in A B; do
    files=("$work"/add."$mode"."$tag".*)
    [[ -e "${files[0]}" ]] || continue
    if [[ $measure == cpu ]]; then
      cpu=$(grep -h task-clock "${files[@]}" | cut -d, -f1 | median)
      faults=$(grep -h page-faults "${files[@]}" | cut -d, -f1 | median)
      printf '%-10s %-5s %4d %12s %8s\n' "$mode" "$tag" "${#files[@]}" "$cpu" "$faults"
    else
      printf '%-10s %-5s %4d %12s\n' "$mode" "$tag" "${#files[@]}" "$(cat "${files[@]}" | median)"
    fi
  done
done
echo "A = $a"; echo "B = $b"
