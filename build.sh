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
# fathom-agent (Native AOT) into a folder of its own, then its one file beside the others: a publish
# into artifacts/bin deletes what the project's previous publish there left and this one does not
# make, and an older, framework-dependent agent's publish left fathomctl's DLLs (AWSSDK, Fathom.*).
agent_out=artifacts/publish/fathom-agent
dotnet publish src/Agent/Fathom.Agent.csproj -c Release -r linux-x64 -o "$agent_out" -v quiet -nologo
cp "$agent_out/fathom-agent" "$out/.fathom-agent.new" && mv -f "$out/.fathom-agent.new" "$out/fathom-agent"
# What a framework-dependent agent left: a fathomctl run through dotnet would start that
# fathom-agent.dll, not the native fathom-agent (AgentCommand.Resolve).
rm -f "$out"/fathom-agent.dll "$out"/fathom-agent.deps.json "$out"/fathom-agent.runtimeconfig.json
publish src/Ctl/Fathom.Ctl.csproj --self-contained false
rm -f "$out"/*.pdb "$out"/*.dbg "$out"/*.xml
echo "built: $(cd "$out" && ls fathom fathomctl fathom-agent 2>/dev/null | tr '\n' ' ')"
