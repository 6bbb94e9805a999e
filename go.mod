module github.com/goupstart/upstart

go 1.26.0

require (
	github.com/creack/pty v1.1.24
	github.com/godbus/dbus/v5 v5.2.4
	golang.org/x/sys v0.50.0
)
