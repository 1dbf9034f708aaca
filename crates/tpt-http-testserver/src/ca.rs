//! A throw-away certificate authority for HTTPS tests.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, date_time_ymd,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A certificate authority generated at run time (ECDSA P-256), used to
/// issue server certificates for the HTTPS [`Server`](crate::Server)s.
///
/// Give [`TestCa::cert_pem`] to the HTTP client as an extra trusted CA.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
}

impl TestCa {
    /// Generates a new CA key pair and self-signed CA certificate.
    pub fn new() -> TestCa {
        let key = KeyPair::generate().expect("generating the test CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("empty CA parameters are valid");
        params
            .distinguished_name
            .push(DnType::CommonName, "tpt-http test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = date_time_ymd(2000, 1, 1);
        params.not_after = date_time_ymd(2100, 1, 1);
        let cert = params
            .self_signed(&key)
            .expect("self-signing the test CA certificate");
        TestCa {
            issuer: Issuer::new(params, key),
            cert_pem: cert.pem(),
        }
    }

    /// The CA certificate as PEM, to be trusted by the client under test.
    pub fn cert_pem(&self) -> String {
        self.cert_pem.clone()
    }

    /// Issues a server certificate and private key for the given DNS names
    /// and/or IP address strings (e.g. `["localhost", "127.0.0.1"]`), signed
    /// by this CA and valid from 2000 to 2100.
    ///
    /// The chain holds only the leaf certificate. Panics if a name is not a
    /// valid DNS name or IP address.
    pub fn issue(&self, names: &[&str]) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        self.issue_between(names, (2000, 1, 1), (2100, 1, 1))
    }

    /// Like [`TestCa::issue`], but the certificate expired long ago (it was
    /// valid only during the year 2000), for bad-certificate tests.
    pub fn issue_expired(&self, names: &[&str]) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        self.issue_between(names, (2000, 1, 1), (2001, 1, 1))
    }

    /// Like [`TestCa::issue`], but as PEM text `(certificate, private key)`, for servers
    /// configured by file (nginx in the interop tests).
    pub fn issue_pem(&self, names: &[&str]) -> (String, String) {
        let (cert, key) = self.issue_params(names, (2000, 1, 1), (2100, 1, 1));
        let cert = cert
            .signed_by(&key, &self.issuer)
            .expect("signing a test server certificate");
        (cert.pem(), key.serialize_pem())
    }

    fn issue_params(
        &self,
        names: &[&str],
        not_before: (i32, u8, u8),
        not_after: (i32, u8, u8),
    ) -> (CertificateParams, KeyPair) {
        let key = KeyPair::generate().expect("generating a test server key");
        let sans: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let mut params =
            CertificateParams::new(sans).expect("invalid DNS name or IP address for a test cert");
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().copied().unwrap_or("tpt-http test server"),
        );
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.not_before = date_time_ymd(not_before.0, not_before.1, not_before.2);
        params.not_after = date_time_ymd(not_after.0, not_after.1, not_after.2);
        (params, key)
    }

    fn issue_between(
        &self,
        names: &[&str],
        not_before: (i32, u8, u8),
        not_after: (i32, u8, u8),
    ) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let (params, key) = self.issue_params(names, not_before, not_after);
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("signing a test server certificate");
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (vec![cert.der().clone()], key_der)
    }
}

impl Default for TestCa {
    /// Same as [`TestCa::new`].
    fn default() -> TestCa {
        TestCa::new()
    }
}
