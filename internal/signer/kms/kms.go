// Package kms registers sigstore's cloud KMS providers, so that a signer
// section of type kms (signer.KMSConfig) can reach AWS KMS (awskms://),
// Google Cloud KMS (gcpkms://), Azure Key Vault (azurekms://) and
// HashiCorp Vault or OpenBao transit (hashivault://).
//
// It exists only for its side effect and is imported by the commands
// (hallmark-ca for its CA and TSA keys, hallmark-log for its log keys), not
// by package signer: the four provider SDKs are large, and the packages
// that tests import widely should not have to compile them.
package kms

import (
	_ "github.com/sigstore/sigstore/pkg/signature/kms/aws"        // awskms://
	_ "github.com/sigstore/sigstore/pkg/signature/kms/azure"      // azurekms://
	_ "github.com/sigstore/sigstore/pkg/signature/kms/gcp"        // gcpkms://
	_ "github.com/sigstore/sigstore/pkg/signature/kms/hashivault" // hashivault://
)
