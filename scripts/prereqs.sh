# Sourced by build.sh, test.sh and run.sh: installs what Fathom needs on a fresh Debian
# machine. Idempotent: it only calls apt-get when something is missing.
set -euo pipefail

# Debian packages, keyed by a file each one installs (cheap check, no apt lock when all present).
declare -A FATHOM_PKGS=(
  [/usr/bin/clang]=clang                          # Native AOT links with clang
  [/usr/bin/ld.lld]=lld
  [/usr/include/zlib.h]=zlib1g-dev                # Native AOT links libz
  [/usr/lib/x86_64-linux-gnu/libc.a]=libc6-dev    # the plugin is linked statically (src/Plugin)
  [/usr/bin/objcopy]=binutils                     # splits the static plugin's debug info
  [/usr/sbin/ip]=iproute2
  [/usr/sbin/bridge]=iproute2
  [/usr/bin/iperf3]=iperf3
  [/usr/bin/sockperf]=sockperf                    # bench dataplane: request/response latency p50/p99
  [/usr/bin/podman]=podman
  [/usr/sbin/runc]=runc
  [/usr/lib/cni/host-device]=containernetworking-plugins
  [/usr/sbin/dnsmasq]=dnsmasq
  [/bin/busybox]=busybox-static
  [/sbin/dhclient]=isc-dhcp-client
  [/usr/bin/jq]=jq
  [/usr/bin/ping]=iputils-ping
  [/usr/sbin/ethtool]=ethtool                     # bench dataplane --gro: veth GRO
  [/usr/bin/pgrep]=procps                         # pgrep and sysctl, used by the tests
  [/usr/bin/strace]=strace                        # the plugin's start is checked for the runtime probes it must not make
  [/usr/sbin/iptables]=iptables                   # portmap in the chain tests; iptables-save for the root-netns check
  [/usr/sbin/nft]=nftables                        # the agent's outgoing NAT for host-gw and overlay pods; the run.sh test's root-netns check
  [/usr/bin/aws]=awscli
  [/usr/share/doc/python3-botocore]=python3-botocore
  [/usr/bin/etcd]=etcd-server                     # the etcd datastore's tests start a real 3-member cluster
  [/usr/bin/containerd]=containerd                # lab up --runtime containerd and the CRI tests (containerd 1.6, ctr)
  [/usr/bin/sudo]=sudo                            # the README's `sudo ./run.sh` on a machine whose root login had none
)

fathom_install_prereqs() {
  local missing=()
  for f in "${!FATHOM_PKGS[@]}"; do
    [[ -e "$f" ]] || missing+=("${FATHOM_PKGS[$f]}")
  done
  if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
      echo "fathom: missing packages (${missing[*]}); run as root to install them" >&2
      return 0
    fi
    echo "fathom: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2046
    apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${missing[@]}" | sort -u) >/dev/null
  fi
  if ! command -v dotnet >/dev/null; then
    echo "fathom: the .NET 10 SDK is required (dotnet on PATH)" >&2
    return 1
  fi
}
