#!/usr/bin/env bash
# What starting a process costs on this machine, the floor under every plugin invocation
# (docs/benchmarks.md, "Linked statically: tried, reverted"): `perf stat -r N` of an empty C program linked
# statically and dynamically, of the plugin's VERSION and of the reference host-device's VERSION
# (elapsed, CPU, page faults); then what one CPUID instruction costs here. Every glibc program's
# start runs a few dozen of them (glibc's CPU features and cache sizes, before main), and the .NET
# runtime a dozen more; in a virtual machine each one exits to the hypervisor.
#
#   scripts/process-start-cost.sh [N]     N runs of each program (default 500); needs perf and gcc
set -euo pipefail
n=${1:-500}
top=$(cd "$(dirname "$0")/.." && pwd)
command -v perf >/dev/null || { echo "process-start-cost: needs perf (apt install linux-perf)" >&2; exit 1; }
command -v gcc >/dev/null || { echo "process-start-cost: needs gcc" >&2; exit 1; }
work=$(mktemp -d /tmp/fathom-startcost.XXXXXX)
trap 'rm -rf "$work"' EXIT

echo 'int main(void) { return 0; }' > "$work/empty.c"
gcc -O2 -static -o "$work/empty-static" "$work/empty.c"
gcc -O2 -o "$work/empty-dynamic" "$work/empty.c"
cat > "$work/cpuid.c" <<'C'
#include <cpuid.h>
#include <stdio.h>
#include <time.h>
static double now_us(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e6 + t.tv_nsec / 1e3; }
int main(void)
{
    unsigned leaves[] = { 0, 1, 7, 0x80000000, 0x80000005, 0x80000006 }, a, b, c, d;
    for (unsigned l = 0; l < sizeof leaves / sizeof *leaves; l++) {
        double t0 = now_us();
        for (int i = 0; i < 2000; i++) __cpuid_count(leaves[l], 0, a, b, c, d);
        printf("CPUID leaf %#x: %.2f us each\n", leaves[l], (now_us() - t0) / 2000);
    }
    return 0;
}
C
gcc -O2 -o "$work/cpuid" "$work/cpuid.c"

printf '%-34s %12s %10s %8s\n' program "elapsed ms" "CPU ms" faults
export CNI_COMMAND=VERSION
for program in "$work/empty-static" "$work/empty-dynamic" "$top/artifacts/bin/fathom" /usr/lib/cni/host-device; do
  [[ -x $program ]] || { printf '%-34s (missing)\n' "${program##*/}"; continue; }
  perf stat -r "$n" -e task-clock,page-faults -o "$work/stat" "$program" < /dev/null > /dev/null
  elapsed=$(awk '/seconds time elapsed/ { printf "%.3f", $1 * 1000 }' "$work/stat")
  cpu=$(awk '/task-clock/ { print $1 }' "$work/stat")
  faults=$(awk '/page-faults/ { print $1 }' "$work/stat")
  printf '%-34s %12s %10s %8s\n' "${program##*/}" "$elapsed" "$cpu" "$faults"
done
unset CNI_COMMAND
"$work/cpuid"
