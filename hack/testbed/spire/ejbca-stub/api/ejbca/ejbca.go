// Package ejbca is a compile-only stand-in for the EJBCA REST client used by
// SPIRE's EJBCA UpstreamAuthority plugin. The testbed never enables that
// plugin; any attempt to use it returns ErrUnavailable.
package ejbca

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
)

// ErrUnavailable is returned by every operation of this stand-in.
var ErrUnavailable = errors.New("EJBCA client is not included in this spire-server build")

// Authenticator configures HTTP clients for the EJBCA API.
type Authenticator interface {
	GetHttpClient() (*http.Client, error)
}

// MTLSAuthenticatorBuilder builds an mTLS Authenticator.
type MTLSAuthenticatorBuilder struct{}

// NewMTLSAuthenticatorBuilder returns a builder.
func NewMTLSAuthenticatorBuilder() *MTLSAuthenticatorBuilder { return &MTLSAuthenticatorBuilder{} }

// WithClientCertificate sets the client certificate.
func (b *MTLSAuthenticatorBuilder) WithClientCertificate(*tls.Certificate) *MTLSAuthenticatorBuilder {
	return b
}

// WithCaCertificates sets the CA certificates.
func (b *MTLSAuthenticatorBuilder) WithCaCertificates([]*x509.Certificate) *MTLSAuthenticatorBuilder {
	return b
}

// Build always fails.
func (b *MTLSAuthenticatorBuilder) Build() (Authenticator, error) { return nil, ErrUnavailable }

// Configuration holds client settings.
type Configuration struct {
	Host string
}

// NewConfiguration returns an empty Configuration.
func NewConfiguration() *Configuration { return &Configuration{} }

// SetAuthenticator sets the authenticator.
func (c *Configuration) SetAuthenticator(Authenticator) {}

// APIClient is the EJBCA API client.
type APIClient struct {
	V1CertificateApi *V1CertificateApiService
}

// NewAPIClient always fails.
func NewAPIClient(*Configuration) (*APIClient, error) { return nil, ErrUnavailable }

// V1CertificateApiService is the certificate API.
type V1CertificateApiService struct{}

// EnrollPkcs10Certificate starts an enrollment request.
func (s *V1CertificateApiService) EnrollPkcs10Certificate(ctx context.Context) ApiEnrollPkcs10CertificateRequest {
	return ApiEnrollPkcs10CertificateRequest{}
}

// ApiEnrollPkcs10CertificateRequest is an enrollment request.
type ApiEnrollPkcs10CertificateRequest struct{}

// EnrollCertificateRestRequest sets the request body.
func (r ApiEnrollPkcs10CertificateRequest) EnrollCertificateRestRequest(EnrollCertificateRestRequest) ApiEnrollPkcs10CertificateRequest {
	return r
}

// Execute always fails.
func (r ApiEnrollPkcs10CertificateRequest) Execute() (*CertificateRestResponse, *http.Response, error) {
	return nil, nil, ErrUnavailable
}

// EnrollCertificateRestRequest is the enrollment request body.
type EnrollCertificateRestRequest struct{}

// NewEnrollCertificateRestRequest returns an empty request body.
func NewEnrollCertificateRestRequest() *EnrollCertificateRestRequest {
	return &EnrollCertificateRestRequest{}
}

func (r *EnrollCertificateRestRequest) SetUsername(string)                 {}
func (r *EnrollCertificateRestRequest) SetPassword(string)                 {}
func (r *EnrollCertificateRestRequest) SetCertificateRequest(string)       {}
func (r *EnrollCertificateRestRequest) SetCertificateAuthorityName(string) {}
func (r *EnrollCertificateRestRequest) SetCertificateProfileName(string)   {}
func (r *EnrollCertificateRestRequest) SetEndEntityProfileName(string)     {}
func (r *EnrollCertificateRestRequest) SetIncludeChain(bool)               {}
func (r *EnrollCertificateRestRequest) SetAccountBindingId(string)         {}

// CertificateRestResponse is an enrollment response.
type CertificateRestResponse struct {
	Certificate      *string
	ResponseFormat   *string
	CertificateChain []string
}

// GetCertificate returns the certificate.
func (r *CertificateRestResponse) GetCertificate() string {
	if r == nil || r.Certificate == nil {
		return ""
	}
	return *r.Certificate
}

// GetResponseFormat returns the response format.
func (r *CertificateRestResponse) GetResponseFormat() string {
	if r == nil || r.ResponseFormat == nil {
		return ""
	}
	return *r.ResponseFormat
}

// GenericOpenAPIError is an API error.
type GenericOpenAPIError struct {
	body  []byte
	error string
}

func (e GenericOpenAPIError) Error() string { return e.error }

// Body returns the raw response body.
func (e GenericOpenAPIError) Body() []byte { return e.body }
