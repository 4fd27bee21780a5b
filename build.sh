#!/usr/bin/env bash
# Builds Fathom and publishes its executables into artifacts/bin/:
#   fathom        the CNI plugin (Native AOT, one file, no .NET runtime needed)
#   fathomctl     the operator CLI (lab, benchmarks, status; framework-dependent, with its DLLs)
#   fathom-agent  the node daemon (Native AOT, one file, no .NET runtime needed)
set -euo pipefail
cd "$(dirname "$0")"
source scripts/prereqs.sh
fathom_install_prereqs

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
out=artifacts/bin
mkdir -p "$out"

dotnet build Fathom.slnx -c Release -v quiet -nologo

publish() { # project, extra args...
  local proj=$1; shift
  dotnet publish "$proj" -c Release -r linux-x64 -o "$out" -v quiet -nologo "$@"
}
[[ -f src/Plugin/Fathom.Plugin.csproj ]] && publish src/Plugin/Fathom.Plugin.csproj
publish src/Ctl/Fathom.Ctl.csproj --self-contained false
[[ -f src/Agent/Fathom.Agent.csproj ]] && publish src/Agent/Fathom.Agent.csproj
# What a framework-dependent agent of an older build left: a fathomctl run through dotnet would
# start that fathom-agent.dll, not the native fathom-agent (AgentCommand.Resolve).
rm -f "$out"/fathom-agent.dll "$out"/fathom-agent.deps.json "$out"/fathom-agent.runtimeconfig.json
rm -f "$out"/*.pdb "$out"/*.dbg "$out"/*.xml
echo "built: $(cd "$out" && ls fathom fathomctl fathom-agent 2>/dev/null | tr '\n' ' ')"
