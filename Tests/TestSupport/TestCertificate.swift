/// A self-signed certificate for tests that read expiry dates, made with
/// `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=shop.example -days 1000`;
/// `openssl x509 -noout -enddate` says notAfter=Aug 24 10:54:42 2029 GMT.
public enum TestCertificate {
    public static let pem = """
        -----BEGIN CERTIFICATE-----
        MIIBgzCCASmgAwIBAgIUL3oSwQuLgpGrcFx9yl+9ngudpsEwCgYIKoZIzj0EAwIw
        FzEVMBMGA1UEAwwMc2hvcC5leGFtcGxlMB4XDTI2MTEyODEwNTQ0MloXDTI5MDgy
        NDEwNTQ0MlowFzEVMBMGA1UEAwwMc2hvcC5leGFtcGxlMFkwEwYHKoZIzj0CAQYI
        KoZIzj0DAQcDQgAE/+94g4VfUEsgYNPOQerlsWPhCIq+zw1EWBB+0CM4qY+0eDWS
        EN9ZIh3SZ7Erdqktg/hoUVPizD94GfyshDK72qNTMFEwHQYDVR0OBBYEFDJESDg5
        ogQO1qh16oC7uwGq3U0EMB8GA1UdIwQYMBaAFDJESDg5ogQO1qh16oC7uwGq3U0E
        MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgBF1nfEMNt1Qj/QOZ
        QgWSe/axoewoVYF0Mb6oS1t+wOMCIQCC1ryJKkE0vyndXdhV46OENRtKH+ShKU8L
        RbDMVpDZBg==
        -----END CERTIFICATE-----

        """
    /// Its notAfter in Unix seconds (2029-08-24 10:54:42 UTC).
    public static let notAfter = 1882263282.0
}
