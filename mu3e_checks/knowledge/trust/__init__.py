"""The trust store: which CA directory DIRAC uses, what is in it, and what OpenSSL makes of it.

Split by subject: :mod:`.choice` (which directory), :mod:`.scan` (reading it once, safely),
:mod:`.verify` (OpenSSL's verdict from what was read), :mod:`.igtf` (bundle names and install
commands) and :mod:`.judge` (which problems matter to this user).  The public names are
re-exported here, so ``from mu3e_checks.knowledge import trust; trust.X`` keeps working.
"""

from __future__ import annotations

from mu3e_checks.knowledge.trust.choice import (
    SYSTEM_CERT_DIR,
    TrustDirChoice,
    ca_dir_problem,
    dirac_root_cert_dir,
    diracos_cert_dir,
    has_ca_files,
    non_empty_dir,
    resolve_trust_dir,
    two_dirs_problem,
)
from mu3e_checks.knowledge.trust.igtf import (
    CERN_GRID_CA,
    CERN_ROOT_CA_2,
    KNOWN_BUNDLES,
    bundle_fix,
    guide_bundles,
    read_info,
)
from mu3e_checks.knowledge.trust.judge import (
    CRLAge,
    RequiredCA,
    UserChain,
    bad_crls,
    check_required,
    crl_freshness,
    expired_cas,
    focus,
    missing_crls,
    required_dns,
    split_by_focus,
    summarize,
    user_chain,
)
from mu3e_checks.knowledge.trust.scan import (
    CA,
    CA_FILE_RE,
    CRL_FILE_RE,
    CRLFile,
    FileProblem,
    TrustStore,
    _der_tbs,
    crl_signed_by,
    scan_trust_dir,
    signed_by,
    subject_hash,
    subject_hash_old,
)
from mu3e_checks.knowledge.trust.verify import (
    X509_V_ERR_CERT_HAS_EXPIRED,
    X509_V_ERR_CERT_NOT_YET_VALID,
    X509_V_ERR_CERT_REVOKED,
    X509_V_ERR_CERT_SIGNATURE_FAILURE,
    X509_V_ERR_CRL_HAS_EXPIRED,
    X509_V_ERR_CRL_NOT_YET_VALID,
    X509_V_ERR_CRL_SIGNATURE_FAILURE,
    X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT,
    X509_V_ERR_INVALID_CA,
    X509_V_ERR_INVALID_NON_CA,
    X509_V_ERR_KEYUSAGE_NO_CRL_SIGN,
    X509_V_ERR_PROXY_CERTIFICATES_NOT_ALLOWED,
    X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN,
    X509_V_ERR_UNABLE_TO_GET_CRL,
    X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER,
    X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT,
    X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
    X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE,
    X509_V_OK,
    ChainVerdict,
    openssl_view,
    verify_chain,
)

__all__ = [
    "CA", "CA_FILE_RE", "CERN_GRID_CA", "CERN_ROOT_CA_2", "CRLAge", "CRLFile", "CRL_FILE_RE",
    "ChainVerdict", "FileProblem", "KNOWN_BUNDLES", "RequiredCA", "SYSTEM_CERT_DIR",
    "TrustDirChoice", "TrustStore", "UserChain", "X509_V_ERR_CERT_HAS_EXPIRED",
    "X509_V_ERR_CERT_NOT_YET_VALID", "X509_V_ERR_CERT_REVOKED",
    "X509_V_ERR_CERT_SIGNATURE_FAILURE", "X509_V_ERR_CRL_HAS_EXPIRED",
    "X509_V_ERR_CRL_NOT_YET_VALID", "X509_V_ERR_CRL_SIGNATURE_FAILURE",
    "X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT", "X509_V_ERR_INVALID_CA",
    "X509_V_ERR_INVALID_NON_CA", "X509_V_ERR_KEYUSAGE_NO_CRL_SIGN",
    "X509_V_ERR_PROXY_CERTIFICATES_NOT_ALLOWED", "X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN",
    "X509_V_ERR_UNABLE_TO_GET_CRL", "X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER",
    "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT", "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
    "X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE", "X509_V_OK", "_der_tbs", "bad_crls",
    "bundle_fix", "ca_dir_problem", "check_required", "crl_freshness", "crl_signed_by",
    "dirac_root_cert_dir", "diracos_cert_dir", "expired_cas", "focus", "guide_bundles",
    "has_ca_files", "missing_crls", "non_empty_dir", "openssl_view", "read_info",
    "required_dns", "resolve_trust_dir", "scan_trust_dir", "signed_by", "split_by_focus",
    "subject_hash", "subject_hash_old", "summarize", "two_dirs_problem", "user_chain",
    "verify_chain",
]
