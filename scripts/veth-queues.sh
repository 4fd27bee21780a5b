#!/usr/bin/env bash
# What a veth pair costs to create by its queue count (docs/benchmarks.md, "Fewer requests, one queue,
# no calibration"; NodeVeth.Queues): `ip -batch` creates N pairs, the node end up and its peer made in
# a second namespace (as the plugin makes a pod's veth), with the kernel's default queues (one TX and
# one RX per possible CPU) and with one of each, ROUNDS times in turn, and deletes them untimed.
# Prints the mean per pair of each batch.
#
#   sudo scripts/veth-queues.sh [N=200] [ROUNDS=3]
#
# Everything it makes is in two namespaces named fvethq-<pid>-{a,b}, removed on exit.
set -euo pipefail
n=${1:-200}; rounds=${2:-3}
[[ $(id -u) -eq 0 ]] || { echo "veth-queues: run as root (it makes network namespaces)" >&2; exit 1; }
a=fvethq-$$-a; b=fvethq-$$-b; work=$(mktemp -d /tmp/fvethq.XXXXXX)
trap 'ip netns del "$a" 2>/dev/null; ip netns del "$b" 2>/dev/null; rm -rf "$work"' EXIT
ip netns add "$a"; ip netns add "$b"
for ((i = 0; i < n; i++)); do echo "link del fq$i"; done > "$work/del"
printf '%-8s %-22s %s\n' round queues "create ms/pair"
for ((r = 1; r <= rounds; r++)); do
  for q in default 1; do
    opts=""; [[ $q == 1 ]] && opts="numtxqueues 1 numrxqueues 1"
    for ((i = 0; i < n; i++)); do
      echo "link add fq$i up $opts type veth peer name e$i netns $b $opts"
    done > "$work/add"
    start=$EPOCHREALTIME
    ip -n "$a" -batch "$work/add"
    end=$EPOCHREALTIME
    ip -n "$a" -batch "$work/del"
    printf '%-8s %-22s %s\n' "$r" "$q" "$(awk -v s="$start" -v e="$end" -v n="$n" 'BEGIN { printf "%.3f", (e - s) * 1000 / n }')"
  done
done
