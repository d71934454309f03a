// Local stand-in for github.com/Keyfactor/ejbca-go-client-sdk, whose
// release is not served by the module proxy. It only satisfies the
// compile-time API of SPIRE's EJBCA UpstreamAuthority plugin, which the
// testbed never configures; every call fails at run time.
module github.com/Keyfactor/ejbca-go-client-sdk

go 1.24
