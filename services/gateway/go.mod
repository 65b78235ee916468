module switchboard.dev/gateway

go 1.26.7

replace (
	switchboard.dev/pkg => ../../pkg
	switchboard.dev/proto => ../../proto
)
