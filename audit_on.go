//go:build !noaudit

package main

// auditTrail: every change and security event writes its entry (audit.go).
// audit_off.go is the build without it, for measuring.
const auditTrail = true
