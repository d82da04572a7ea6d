#!/usr/bin/env bash
# Rebuilds the golden fixtures the tests read from ../shared/testdata (outside the repository, so
# a CI checkout does not have them) from upstream Kubernetes at one release tag:
#   k8s-api/     staging/src/k8s.io/api/testdata/HEAD (round-trip fixtures: .json, .yaml, .pb)
#   openapi-v3/  api/openapi-spec/v3 (the documents kubectl downloads)
# wire-schemas/ is a field table extracted from k8s.io/cri-api by the maintainers and is not
# published: the workflows name the one test file that needs it (tests/cri/test_proto.py).
# Usage: fetch-shared-fixtures.sh DEST_TESTDATA_DIR   (K8S_REF overrides the tag)
set -euo pipefail
dest=${1:?usage: $0 DEST_TESTDATA_DIR}
ref=${K8S_REF:-v1.37.1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone --quiet --depth 1 --branch "$ref" --filter=blob:none --sparse \
  https://github.com/kubernetes/kubernetes "$work/k8s"
git -C "$work/k8s" sparse-checkout set staging/src/k8s.io/api/testdata/HEAD api/openapi-spec/v3
mkdir -p "$dest/k8s-api" "$dest/openapi-v3"
cp "$work/k8s/staging/src/k8s.io/api/testdata/HEAD/"* "$dest/k8s-api/"
for doc in api__v1 apis__apps__v1 apis__batch__v1 apis__discovery.k8s.io__v1 \
           apis__networking.k8s.io__v1alpha1; do
  cp "$work/k8s/api/openapi-spec/v3/${doc}_openapi.json" "$dest/openapi-v3/"
done
echo "fixtures from kubernetes $ref in $dest: $(ls "$dest/k8s-api" | wc -l) k8s-api files"
