#!/usr/bin/env bash
# Where fathom-agent's CPU goes while it answers the plugin (docs/benchmarks.md, "Where each ADD's
# time goes"): a one-node lab of its own, CYCLES ADD+DEL of MODE through the installed plugin run
# as a runtime runs it, `perf record -g` of the node's agent meanwhile, and the samples of its
# connection threads (the ones that serve the plugin's requests) summed by function — the agent's
# own (named from fathom-agent.dbg, the Native AOT build's symbols) and the kernel's — self and
# inclusive, as shares of those threads' samples.
#
#   sudo scripts/agent-profile.sh [MODE=underlay] [CYCLES=40] [TOP=30]
#   sudo FATHOM_AGENT=/path/to/other/fathom-agent scripts/agent-profile.sh ...   # another build: its sample count only
#
# At 10 kHz the sample count is the serving threads' CPU time: two builds' counts, run in turn,
# compare them (docs/benchmarks.md, "Where each ADD's time goes").
#
# Needs ./build.sh's artifacts, perf (apt install linux-perf), python3 and nm (binutils). Its lab is
# 'fprof' (taken down on exit, with the pod netns fprof-pod-prof).
set -euo pipefail
mode=${1:-underlay}; cycles=${2:-40}; top=${3:-30}
[[ $(id -u) -eq 0 ]] || { echo "agent-profile: run as root (it brings a lab up)" >&2; exit 1; }
for tool in perf python3 nm readelf; do
  command -v "$tool" >/dev/null || { echo "agent-profile: needs $tool" >&2; exit 1; }
done
repo=$(cd "$(dirname "$0")/.." && pwd)
ctl=("$repo/artifacts/bin/fathomctl"); plugin=$repo/artifacts/bin/fathom
dbg=$repo/src/Agent/bin/Release/net10.0/linux-x64/native/fathom-agent.dbg
[[ -x $plugin && -f $dbg ]] || { echo "agent-profile: run ./build.sh first (needs $plugin and $dbg)" >&2; exit 1; }
export FATHOM_LAB_PREFIX=fprof
work=$(mktemp -d /tmp/fathom-agentprof.XXXXXX)
pod=fprof-pod-prof
cleanup() {
  set +e # every step, whatever failed before it (the pod's netns may not exist yet)
  [[ -n ${perf_pid:-} ]] && kill -INT "$perf_pid" 2>/dev/null
  ip netns del "$pod" 2>/dev/null
  "${ctl[@]}" lab down >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
"${ctl[@]}" lab up --nodes 1 --instance-type m5.24xlarge > "$work/lab.txt" 2>&1 || { cat "$work/lab.txt" >&2; exit 1; }
status=$("${ctl[@]}" lab status --json)
agent=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["agents"][0]["pid"])' <<<"$status")
socket=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["agents"][0]["socket"])' <<<"$status")
exe=$(readlink "/proc/$agent/exe")
names=1
if [[ $(readelf -n "$exe" 2>/dev/null | grep -o 'Build ID: .*') != $(readelf -n "$dbg" 2>/dev/null | grep -o 'Build ID: .*') ]]; then
  # Another build (FATHOM_AGENT names it, to compare two builds side by side): its sample count
  # holds, the names of $dbg would not.
  echo "agent-profile: $exe is not the build of $dbg: only the sample count is printed" >&2; names=
fi
base=$(awk -v exe="$exe" '$6 == exe && $3 == "00000000" { split($1, r, "-"); print r[1]; exit }' "/proc/$agent/maps")
ip netns add "$pod"
printf '{"cniVersion":"1.1.0","name":"fathom-%s","type":"fathom","mode":"%s","agentSocket":"%s","dataDir":"%s"}' \
  "$mode" "$mode" "$socket" "$work/data" > "$work/config.json"
cycle() { # container id
  for command in ADD DEL; do
    ip netns exec fprof-node1 env CNI_COMMAND=$command CNI_CONTAINERID="$1" CNI_NETNS="/run/netns/$pod" CNI_IFNAME=eth0 \
      CNI_PATH=/usr/lib/cni "$plugin" < "$work/config.json" > "$work/out.json" || { cat "$work/out.json" >&2; exit 1; }
  done
  sleep 0.15 # as pods come: the agent's teardown of this one runs before the next ADD
}
for i in 1 2 3; do cycle "warm$i"; done
perf record -F 10000 -g -p "$agent" -o "$work/agent.perf" > /dev/null 2>&1 &
perf_pid=$!
sleep 1
for ((i = 1; i <= cycles; i++)); do cycle "prof$i"; done
kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true; perf_pid=
perf script -i "$work/agent.perf" --comms "fathom-agent co" -F ip,sym,dso 2>/dev/null > "$work/samples.txt"
echo "fathom-agent (pid $agent) answering $cycles ADD+DEL of $mode: its connection threads' samples by function"
if [[ -z $names ]]; then
  echo "$(grep -c '^$' "$work/samples.txt") samples"; exit 0
fi
python3 - "$work/samples.txt" "$dbg" "$base" "$(basename "$exe")" "$top" <<'PY'
import bisect, collections, subprocess, sys
samples_file, dbg, base, exe, top = sys.argv[1], sys.argv[2], int(sys.argv[3], 16), sys.argv[4], int(sys.argv[5])
symbols = []
for line in subprocess.run(['nm', '-n', dbg], capture_output=True, text=True).stdout.splitlines():
    parts = line.split()
    if len(parts) == 3 and parts[1] in 'tTwW':
        symbols.append((int(parts[0], 16), parts[2]))
starts = [a for a, _ in symbols]
def name(address, rest):
    if exe in rest:
        v = int(address, 16)
        v = v - base if v >= base else v  # a sample's leaf is absolute, its callers file-relative
        i = bisect.bisect_right(starts, v) - 1
        return symbols[i][1] if i >= 0 else '?'
    return rest.split(' (')[0].split('+')[0]
samples, current = [], []
for line in open(samples_file):
    if not line.strip():
        if current: samples.append(current); current = []
        continue
    address, _, rest = line.strip().partition(' ')
    current.append(name(address, rest))
if current: samples.append(current)
if not samples:
    sys.exit('no samples of the connection threads: did the ADDs reach the agent?')
own, within = collections.Counter(), collections.Counter()
for frames in samples:
    own[frames[0]] += 1
    for f in set(frames): within[f] += 1
print(f'{len(samples)} samples')
print('  self')
for f, n in own.most_common(top): print(f'  {100 * n / len(samples):5.1f} %  {f[:140]}')
print('  inclusive')
for f, n in within.most_common(top): print(f'  {100 * n / len(samples):5.1f} %  {f[:140]}')
PY
