#!/usr/bin/env bash
# Runs every Fathom test project and ends with one line: "N passed, N failed, N skipped".
# As root the privileged tests (namespaces, links, podman, the lab) run too; with CI=true a
# privileged test that cannot run fails instead of skipping.
# Usage: ./test.sh [dotnet test --filter expression]
set -uo pipefail
cd "$(dirname "$0")"
source scripts/prereqs.sh
fathom_install_prereqs || exit 1
set +e

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
filter=${1:-}
results=artifacts/test-results
rm -rf "$results"; mkdir -p "$results"

# Whatever happens, remove what tests made: namespaces with the test prefix, and a lab
# started by tests (its own `down` knows every object it made, even after SIGKILL).
lab_prefix=${FATHOM_TEST_LAB_PREFIX:-ftlab}  # the lab tests' prefix (tests/Lab.Tests, LabFixture.cs)
netns_prefix=${FATHOM_TEST_NETNS_PREFIX:-ftest-}  # every test namespace's (tests/TestSupport/TestNetns.cs)
sweep() {
  if [[ -n ${lab_pid:-} ]] && kill -0 "$lab_pid" 2>/dev/null; then  # interrupted while the lab tests ran
    kill -TERM -- "-$lab_pid" 2>/dev/null; wait "$lab_pid" 2>/dev/null  # their process group: dotnet test and its test host
  fi
  if [[ $(id -u) -eq 0 ]]; then
    for lab in "$lab_prefix" ftrun; do  # the lab tests' and run.sh test's labs
      [[ -x artifacts/bin/fathomctl ]] && FATHOM_LAB_PREFIX=$lab artifacts/bin/fathomctl lab down >/dev/null 2>&1
      rm -f "/run/lock/fathom-lab-$lab.lock"  # nobody else changes the test labs now
    done
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^($netns_prefix|$lab_prefix-|ftrun-|fathom-bench-)"); do
      ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
      ip netns del "$ns" 2>/dev/null
    done
  fi
}
trap sweep EXIT
trap 'echo "interrupted"; exit 130' INT TERM  # Ctrl-C stops the run, not just the project under way; the sweep follows

if ! ./build.sh; then
  echo "build failed"
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi

# The labs the tests start run the agent the build shipped (Native AOT), not the JIT copy in a
# test project's output folder: what is tested is what an operator installs.
export FATHOM_AGENT=${FATHOM_AGENT:-$PWD/artifacts/bin/fathom-agent}

# run NAME PROJECT [FILTER]: one `dotnet test`, its results in $results/NAME.trx.
run() {
  local name=$1 proj=$2 f=${3:-}
  local args=(test "$proj" -c Release --no-build --nologo -v quiet
        --logger "trx;LogFileName=$name.trx" --logger "console;verbosity=minimal"
        --results-directory "$results")
  [[ -n $f ]] && args+=(--filter "$f")
  echo "== $name"
  dotnet "${args[@]}"
}
# The user's filter and ours, both applying.
both() { if [[ -n $filter ]]; then echo "($filter)&($1)"; else echo "$1"; fi; }

# The lab tests take five minutes, most of it waiting on agents, the kernel's netns moves and
# etcd rather than computing: they run beside the other projects, their output printed when
# they end. run.sh's test runs last and alone: it measures throughput and compares snapshots
# of the root namespace, which nothing else may touch meanwhile.
lab=tests/Lab.Tests/Fathom.Lab.Tests.csproj
run_script=Fathom.Lab.Tests.RunScriptTests
# In a process group of their own (set -m), which an interrupted run stops whole; their stdin is
# not the terminal, which a background group may not touch.
set -m
run Fathom.Lab.Tests "$lab" "$(both "FullyQualifiedName!~$run_script")" < /dev/null > "$results/lab.log" 2>&1 &
lab_pid=$!
set +m
for proj in tests/*/*.Tests.csproj; do
  [[ $proj == "$lab" ]] || run "$(basename "$proj" .csproj)" "$proj" "$filter"
done
wait "$lab_pid"
cat "$results/lab.log"
run Fathom.Lab.Tests.RunScript "$lab" "$(both "FullyQualifiedName~$run_script")"

passed=0 failed=0 skipped=0
for trx_name in $(basename -s .csproj tests/*/*.Tests.csproj) Fathom.Lab.Tests.RunScript; do
  trx="$results/$trx_name.trx"
  if [[ ! -f $trx ]]; then
    echo "$trx_name: no result file (test host crashed?)"
    failed=$((failed + 1)); continue
  fi
  counters=$(grep -o '<Counters [^>]*>' "$trx")
  get() { sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p" <<<"$counters"; }
  p=$(get passed) f=$(get failed) e=$(get error) t=$(get total) x=$(get executed)
  passed=$((passed + p)); failed=$((failed + f + e)); skipped=$((skipped + t - x))
done

sweep; trap - EXIT
echo "$passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
