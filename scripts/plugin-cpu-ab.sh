#!/usr/bin/env bash
# The CPU of two builds of the plugin side by side: one `fathomctl bench cni` run whose ADDs go
# alternately to build A and build B (a wrapper given as --plugin), each ADD's plugin process under
# `perf stat`; prints, per mode, the median CPU (task-clock) and page faults of each build's ADDs.
# Both builds see the same machine, the same load, the same agent: only the difference counts.
#
#   sudo [AGENT_CYCLES=40] scripts/plugin-cpu-ab.sh A/fathom B/fathom   (needs perf; root for the lab)
#
# Extra arguments go to `fathomctl bench cni` (defaults: a small profile, lab prefix fcpuab).
set -euo pipefail
[[ $# -ge 2 ]] || { sed -n '2,9p' "$0"; exit 2; }
a=$(realpath "$1"); b=$(realpath "$2"); shift 2
command -v perf >/dev/null || { echo "plugin-cpu-ab: needs perf (apt install linux-perf)" >&2; exit 1; }
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/fathom-cpuab.XXXXXX)
trap 'rm -rf "$work"' EXIT
cat > "$work/fathom" <<WRAP
#!/usr/bin/env bash
if [[ "\$CNI_COMMAND" != ADD ]]; then exec "$b"; fi
in=\$(cat)
mode=\$(printf '%s' "\$in" | grep -o '"mode": *"[a-z-]*"' | head -1 | sed 's/.*"\\([a-z-]*\\)"\$/\\1/')
counter="$work/counter.\${mode:-none}"
n=\$(flock "\$counter" sh -c 'n=\$(cat "\$0" 2>/dev/null || echo 0); echo \$((n+1)) > "\$0"; echo \$n' "\$counter")
if (( n % 2 == 0 )); then bin="$a"; tag=A; else bin="$b"; tag=B; fi
printf '%s' "\$in" | perf stat -x, -o "$work/add.\${mode:-none}.\$tag.\$\$" -e task-clock,page-faults "\$bin"
WRAP
chmod +x "$work/fathom"
dotnet "$top/artifacts/bin/fathomctl.dll" bench cni --plugin "$work/fathom" --cycles 3 --agent-cycles "${AGENT_CYCLES:-40}" \
  --concurrency 8 --rounds 1 --churn-seconds 0 --allocations 20 --lab-prefix fcpuab "$@" > "$work/bench.txt" 2>&1 \
  || { tail -20 "$work/bench.txt" >&2; exit 1; }
median() { sort -n | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]; else print "-"}'; }
printf '%-10s %-5s %4s %12s %8s\n' mode build ADDs "CPU ms" faults
for mode in underlay shared host-gw overlay; do
  for tag in A B; do
    files=("$work"/add."$mode"."$tag".*)
    [[ -e "${files[0]}" ]] || continue
    cpu=$(grep -h task-clock "${files[@]}" | cut -d, -f1 | median)
    faults=$(grep -h page-faults "${files[@]}" | cut -d, -f1 | median)
    printf '%-10s %-5s %4d %12s %8s\n' "$mode" "$tag" "${#files[@]}" "$cpu" "$faults"
  done
done
echo "A = $a"; echo "B = $b"
