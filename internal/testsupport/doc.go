// Package testsupport holds helpers shared by the tests of this module:
// throwaway databases now, and whatever else several packages' tests need to
// start (servers, ports). Nothing here is used outside tests.
package testsupport
