// Package testclient is the HTTP client tests make their own requests
// with.
//
// Not http.DefaultClient or http.DefaultTransport: every
// httptest.Server.Close closes http.DefaultTransport's idle connections,
// and a parallel test reusing one of them at that moment fails with
// "http: CloseIdleConnections called". Nothing closes this transport's.
package testclient

import "net/http"

// Transport is a clone of http.DefaultTransport's settings, shared by no
// httptest.Server.
var Transport = http.DefaultTransport.(*http.Transport).Clone()

// Client uses Transport and follows redirects as http.DefaultClient does.
var Client = &http.Client{Transport: Transport}
