#!/usr/bin/env bash
# Signs Hallmark's images and attests their SBOMs with cosign v2, logging both
# to a Hallmark Rekor v1 log: Hallmark's release is verified with Hallmark.
#   sign-images.sh IMAGES_FILE SBOM_DIR
# IMAGES_FILE lists name:tag@digest references (make images writes
# bin/images.txt); SBOM_DIR holds <command>.spdx.json (bin/sbom/).
#
# Two modes, chosen by the environment:
#   with a key:  COSIGN_KEY (cosign key file or KMS URI) and REKOR_URL.
#   keyless:     IDENTITY_TOKEN (an OIDC identity token, or a file holding one,
#                e.g. a CI job's token), FULCIO_URL (hallmark-ca) and REKOR_URL:
#                hallmark-ca certifies the token's identity and the signatures
#                are verified with --certificate-identity/--certificate-oidc-issuer.
#                cosign checks what it gets against the trust material named by
#                SIGSTORE_ROOT_FILE (hallmark-ca's chain), SIGSTORE_REKOR_PUBLIC_KEY
#                and SIGSTORE_CT_LOG_PUBLIC_KEY_FILE, which it reads itself.
# Also: COSIGN (cosign v2 binary, default: cosign on PATH), COSIGN_FLAGS (extra
# flags, e.g. --allow-http-registry for a test registry).
set -euo pipefail
images=${1:?usage: sign-images.sh IMAGES_FILE SBOM_DIR}
sboms=${2:?usage: sign-images.sh IMAGES_FILE SBOM_DIR}
cosign=${COSIGN:-cosign}
: "${REKOR_URL:?set REKOR_URL (the Hallmark Rekor v1 log)}"
if [ -n "${COSIGN_KEY:-}" ]; then
  identity=(--key "$COSIGN_KEY")
elif [ -n "${IDENTITY_TOKEN:-}" ]; then
  : "${FULCIO_URL:?keyless signing needs FULCIO_URL (hallmark-ca)}"
  identity=(--identity-token "$IDENTITY_TOKEN" --fulcio-url "$FULCIO_URL")
else
  echo "sign-images.sh: set COSIGN_KEY, or IDENTITY_TOKEN and FULCIO_URL for keyless signing" >&2
  exit 2
fi
# shellcheck disable=SC2206
extra=(${COSIGN_FLAGS:-})
while read -r ref; do
  [ -n "$ref" ] || continue
  name=${ref%%@*}; name=${name%:*}; cmd=${name##*/}
  echo "signing $ref" >&2
  "$cosign" sign --yes "${identity[@]}" --rekor-url "$REKOR_URL" "${extra[@]}" "$ref"
  "$cosign" attest --yes "${identity[@]}" --rekor-url "$REKOR_URL" "${extra[@]}" \
    --type spdxjson --predicate "$sboms/$cmd.spdx.json" "$ref"
done < "$images"
