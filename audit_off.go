//go:build noaudit

package main

// audit_off.go: `go build -tags noaudit` makes a server that neither
// builds nor writes audit entries, only so that bench/run.sh can measure
// what the trail costs. There is no setting that turns the trail off: it
// is a security feature, and a build without it is not for use.

const auditTrail = false
