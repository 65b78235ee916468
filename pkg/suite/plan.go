package suite

import (
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
)

// Binary names, as Build writes them into the binary directory.
const (
	SessionBin  = "session"
	RegistryBin = "registry"
	GatewayBin  = "gateway"
	ProviderBin = "demo-provider"
	// ConformanceProviderBin serves what the MCP conformance suite calls.
	ConformanceProviderBin = "conformance-provider"
)

// plan picks every address and builds the processes without starting them.
func (s *Suite) plan() error {
	ports, err := s.ports()
	if err != nil {
		return err
	}
	// fixed returns the given port's address, or a free one for 0.
	fixed := func(p int) string {
		if p == 0 {
			p = ports.take()
		}
		return loopback(p)
	}
	fp := s.cfg.Ports
	s.Session = s.process(SessionBin, SessionBin, fixed(fp.SessionGRPC), fixed(fp.SessionHTTP))
	s.Session.args = append(s.Session.args, s.redisArgs()...)
	s.Registry = s.process(RegistryBin, RegistryBin, fixed(fp.RegistryGRPC), fixed(fp.RegistryHTTP))
	s.Registry.args = append(s.Registry.args, s.redisArgs()...)
	s.Registry.AdminAddr = fixed(fp.RegistryAdmin)
	s.Registry.args = append(s.Registry.args, "-session-addr="+s.Session.GRPCAddr,
		"-admin-addr="+s.Registry.AdminAddr)

	for i := range s.cfg.Gateways {
		gp := Ports{}
		if i == 0 {
			gp = fp
		}
		grpcAddr, httpAddr := fixed(gp.GatewayGRPC), fixed(gp.GatewayHTTP)
		g := s.process(fmt.Sprintf("gateway-%d", i+1), GatewayBin, grpcAddr, httpAddr)
		g.args = append(g.args,
			"-session-addr="+s.Session.GRPCAddr, "-registry-addr="+s.Registry.GRPCAddr)
		s.Gateways = append(s.Gateways, g)
	}
	for _, pc := range s.cfg.Providers {
		s.Providers = append(s.Providers, s.provider(pc, fixed(pc.Port)))
	}
	return nil
}

func (s *Suite) provider(pc Provider, grpcAddr string) *Process {
	bin := pc.Bin
	if bin == "" {
		bin = ProviderBin
	}
	p := s.process("provider-"+pc.Name, bin, grpcAddr, "")
	p.args = append(p.args, "-registry-addr="+s.Registry.GRPCAddr, "-name="+pc.Name)
	if pc.Prefix != nil {
		p.args = append(p.args, "-prefix="+*pc.Prefix)
	}
	p.args = append(p.args, pc.Args...)
	p.provider = pc.Name
	return p
}

// process returns a process running bin with its listen flags, the common
// logging flags and the configured extras.
func (s *Suite) process(name, bin, grpcAddr, httpAddr string) *Process {
	args := []string{"-grpc-addr=" + grpcAddr}
	if httpAddr != "" {
		args = append(args, "-http-addr="+httpAddr)
	}
	if s.cfg.LogLevel != "" {
		args = append(args, "-log-level="+s.cfg.LogLevel)
	}
	if s.cfg.LogFormat != "" {
		args = append(args, "-log-format="+s.cfg.LogFormat)
	}
	args = append(args, s.cfg.ExtraArgs[bin]...)
	return &Process{
		Name:         name,
		GRPCAddr:     grpcAddr,
		HTTPAddr:     httpAddr,
		LogPath:      filepath.Join(s.Dir, name+".log"),
		bin:          filepath.Join(s.cfg.BinDir, bin),
		args:         args,
		env:          slices.Clone(s.cfg.ExtraEnv),
		output:       s.cfg.Output,
		readyTimeout: s.cfg.ReadyTimeout,
		stopTimeout:  s.cfg.StopTimeout,
		log:          s.log,
		exits:        s.exits,
	}
}

func (s *Suite) redisArgs() []string {
	args := []string{"-redis-url=" + s.RedisURL}
	if s.cfg.Namespace != "" {
		args = append(args, "-redis-namespace="+s.cfg.Namespace)
	}
	return args
}

// ports reserves as many free ports as the plan may need.
func (s *Suite) ports() (*portList, error) {
	n := 5 + 2*s.cfg.Gateways + len(s.cfg.Providers)
	ps, err := FreePorts(n)
	if err != nil {
		return nil, err
	}
	return &portList{ports: ps}, nil
}

type portList struct{ ports []int }

func (l *portList) take() int {
	p := l.ports[0]
	l.ports = l.ports[1:]
	return p
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// FreePorts returns n distinct loopback ports that were free a moment ago.
// All n listeners are open at once, so the ports differ from each other;
// another program may still take one before it is used.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
