package process

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/shmkit/shmkit/shm"
)

// launch starts /proc/self/exe as a child that runs target (see Main).
func launch(p *Process, arg []byte) error {
	env := raceEnv(cleanEnv(os.Environ()))
	if s := takeSpare(env); s != nil && s.handOff(p, arg) == nil {
		return nil
	}
	argR, argW, err := os.Pipe()
	if err != nil {
		return err
	}
	parentR, parentW, err := os.Pipe()
	if err != nil {
		argR.Close()
		argW.Close()
		return err
	}
	exitR, exitW, err := os.Pipe()
	if err != nil {
		argR.Close()
		argW.Close()
		parentR.Close()
		parentW.Close()
		return err
	}
	segs := shm.DefaultHeap().Segments()
	files := []*os.File{argR, parentR, exitW}
	for _, s := range segs {
		files = append(files, s.File())
	}
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{os.Args[0]}
	cmd.Env = append(env,
		envFunc+"="+p.target,
		envName+"="+p.name,
		envSegments+"="+strconv.Itoa(len(segs)),
		envParent+"="+parentEnv(Current()),
	)
	if p.daemon {
		cmd.Env = append(cmd.Env, envDaemon+"=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}
	if l, ok := loggingLevel(); ok {
		cmd.Env = append(cmd.Env, envLog+"="+strconv.Itoa(int(l)))
	}
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.ExtraFiles = files
	if p.daemon {
		err = startOnLockedThread(cmd)
	} else {
		err = cmd.Start()
	}
	argR.Close()
	parentR.Close()
	exitW.Close()
	if err != nil {
		argW.Close()
		parentW.Close()
		exitR.Close()
		return err
	}
	go func() {
		argW.Write(arg)
		argW.Close()
	}()
	p.cmd, p.parentEnd, p.exitEnd = cmd, parentW, exitR
	return nil
}

// cleanEnv drops this package's variables, in case this process is itself
// a child.
func cleanEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "SHMKIT_PROCESS_") {
			out = append(out, kv)
		}
	}
	return out
}

// raceEnv keeps a child built with the race detector from sleeping a
// second at every exit (its default atexit_sleep_ms), unless the user set
// that option. Other builds ignore GORACE.
func raceEnv(env []string) []string {
	for i, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GORACE="); ok {
			if !strings.Contains(v, "atexit_sleep_ms") {
				env[i] = strings.TrimSpace("GORACE=" + v + " atexit_sleep_ms=0")
			}
			return env
		}
	}
	return append(env, "GORACE=atexit_sleep_ms=0")
}

// The parent-death signal fires when the thread that started the child
// exits, and Go may end threads: daemons are started from one thread that
// is locked and never ends.
var starts chan startReq

type startReq struct {
	cmd  *exec.Cmd
	done chan error
}

func startOnLockedThread(cmd *exec.Cmd) error {
	startOnce.Do(func() {
		starts = make(chan startReq)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as the process
			for r := range starts {
				r.done <- r.cmd.Start()
			}
		}()
	})
	r := startReq{cmd: cmd, done: make(chan error, 1)}
	starts <- r
	return <-r.done
}
