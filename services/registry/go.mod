module switchboard.dev/registry

go 1.26.7

replace (
	switchboard.dev/pkg => ../../pkg
	switchboard.dev/proto => ../../proto
)
