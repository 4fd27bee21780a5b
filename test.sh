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

if ! ./build.sh; then
  echo "build failed"
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi

# The labs the tests start run the agent the build shipped (Native AOT), not the JIT copy in a
# test project's output folder: what is tested is what an operator installs.
export FATHOM_AGENT=${FATHOM_AGENT:-$PWD/artifacts/bin/fathom-agent}

passed=0 failed=0 skipped=0
for proj in tests/*/*.Tests.csproj; do
  name=$(basename "$proj" .csproj)
  echo "== $name"
  args=(test "$proj" -c Release --no-build --nologo -v quiet
        --logger "trx;LogFileName=$name.trx" --logger "console;verbosity=minimal"
        --results-directory "$results")
  [[ -n $filter ]] && args+=(--filter "$filter")
  dotnet "${args[@]}"
  trx="$results/$name.trx"
  if [[ ! -f $trx ]]; then
    echo "$name: no result file (test host crashed?)"
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
