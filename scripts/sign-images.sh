#!/usr/bin/env bash
# Signs Hallmark's images and attests their SBOMs with cosign, logging both
# to a Hallmark Rekor v1 log: Hallmark's release is verified with Hallmark.
#   sign-images.sh IMAGES_FILE SBOM_DIR
# IMAGES_FILE lists name:tag@digest references (make images writes
# bin/images.txt); SBOM_DIR holds <command>.spdx.json (bin/sbom/).
# Environment: COSIGN_KEY (cosign key file or KMS URI), REKOR_URL (the
# Rekor v1 log's URL), COSIGN (cosign v2 binary, default: cosign on PATH),
# COSIGN_FLAGS (extra flags, e.g. --allow-http-registry for a test registry).
set -euo pipefail
images=${1:?usage: sign-images.sh IMAGES_FILE SBOM_DIR}
sboms=${2:?usage: sign-images.sh IMAGES_FILE SBOM_DIR}
cosign=${COSIGN:-cosign}
: "${COSIGN_KEY:?set COSIGN_KEY}" "${REKOR_URL:?set REKOR_URL}"
# shellcheck disable=SC2206
extra=(${COSIGN_FLAGS:-})
while read -r ref; do
  [ -n "$ref" ] || continue
  name=${ref%%@*}; name=${name%:*}; cmd=${name##*/}
  echo "signing $ref" >&2
  "$cosign" sign --yes --key "$COSIGN_KEY" --rekor-url "$REKOR_URL" "${extra[@]}" "$ref"
  "$cosign" attest --yes --key "$COSIGN_KEY" --rekor-url "$REKOR_URL" "${extra[@]}" \
    --type spdxjson --predicate "$sboms/$cmd.spdx.json" "$ref"
done < "$images"
