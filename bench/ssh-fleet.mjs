// N sshd instances for the parallel-ssh and Ansible side of the benchmark: one per loopback
// address 127.0.0.2…, port 22, key-only, each with its own host key and pid file, and (like the
// Flotilla agents) its own mount namespace where <dir>/remote is its own <dir>/hosts/h<i>.
// Needs root and openssh-server; meant to run inside the benchmark's private network namespace.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync, openSync, closeSync, readdirSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, sleep, log } from './lib.mjs';

export class SshFleet {
  constructor({ dir, remote }) {
    this.dir = dir;
    this.remote = remote; // the path every host sees as its own directory
    this.sshDir = join(dir, 'ssh');
    this.key = join(this.sshDir, 'id_ed25519');
    this.hostsFile = join(this.sshDir, 'hosts');
    this.inventory = join(this.sshDir, 'inventory.ini');
    this.hosts = []; // { addr, pid, child, hostDir }
  }

  hostDir(i) {
    return join(this.dir, 'hosts', `h${i}`);
  }

  static address(i) {
    return `127.0.0.${2 + i}`;
  }

  async start(n) {
    mkdirSync(this.sshDir, { recursive: true });
    mkdirSync(this.remote, { recursive: true });
    mkdirSync('/run/sshd', { recursive: true }); // sshd's privilege-separation directory
    const kg = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', this.key]);
    if (kg.code !== 0) throw new Error(`ssh-keygen: ${kg.stderr}`);
    const pub = readFileSync(`${this.key}.pub`, 'utf8');
    writeFileSync(join(this.sshDir, 'authorized_keys'), pub, { mode: 0o600 });
    const lines = [];
    const inv = ['[bench]'];
    for (let i = 0; i < n; i++) {
      const addr = SshFleet.address(i);
      const hostDir = this.hostDir(i);
      mkdirSync(hostDir, { recursive: true });
      const hostKey = join(this.sshDir, `host_${i}`);
      const hk = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
      if (hk.code !== 0) throw new Error(`ssh-keygen: ${hk.stderr}`);
      const config = join(this.sshDir, `sshd_${i}.conf`);
      writeFileSync(
        config,
        [
          `ListenAddress ${addr}:22`,
          `HostKey ${hostKey}`,
          `PidFile ${join(this.sshDir, `sshd_${i}.pid`)}`,
          `AuthorizedKeysFile ${join(this.sshDir, 'authorized_keys')}`,
          'PermitRootLogin prohibit-password',
          'PasswordAuthentication no',
          'KbdInteractiveAuthentication no',
          'UsePAM no',
          'StrictModes no',
          'UseDNS no',
          'MaxStartups 200',
          'MaxSessions 100',
          'Subsystem sftp internal-sftp',
          '',
        ].join('\n'),
      );
      const out = openSync(join(this.sshDir, `sshd_${i}.log`), 'a');
      const child = spawn(
        'unshare',
        [
          '-m',
          '--propagation',
          'private',
          'sh',
          '-c',
          'mount --bind "$1" "$2" && shift 2 && exec "$@"',
          'sh',
          hostDir,
          this.remote,
          '/usr/sbin/sshd',
          '-D',
          '-e',
          '-f',
          config,
        ],
        { stdio: ['ignore', out, out] },
      );
      closeSync(out);
      this.hosts.push({ addr, pid: child.pid, child, hostDir });
      lines.push(addr);
      inv.push(`h${i} ansible_host=${addr}`);
    }
    writeFileSync(this.hostsFile, `${lines.join('\n')}\n`);
    inv.push('', '[bench:vars]', 'ansible_user=root', `ansible_ssh_private_key_file=${this.key}`, 'ansible_python_interpreter=/usr/bin/python3', '');
    writeFileSync(this.inventory, inv.join('\n'));
    // Wait until every sshd answers.
    for (const h of this.hosts) {
      let ok = false;
      for (let k = 0; k < 50 && !ok; k++) {
        const r = await run('ssh', [...this.sshArgs('cold'), `root@${h.addr}`, 'true'], { timeoutMs: 10_000 });
        ok = r.code === 0;
        if (!ok) await sleep(200);
      }
      if (!ok) throw new Error(`sshd on ${h.addr} does not answer (see ${this.sshDir}/sshd_*.log)`);
    }
    log(`${n} sshd instances up on 127.0.0.2…${SshFleet.address(n - 1)}`);
  }

  /** ssh client options; warm keeps one master connection per host open (ControlPersist). */
  sshArgs(mode) {
    const base = ['-i', this.key, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'BatchMode=yes'];
    if (mode === 'warm') {
      return [...base, '-o', 'ControlMaster=auto', '-o', `ControlPath=${join(this.sshDir, 'cm-%h')}`, '-o', 'ControlPersist=600'];
    }
    return [...base, '-o', 'ControlMaster=no', '-o', 'ControlPath=none'];
  }

  /** Environment for Ansible ad-hoc runs; warm = ControlPersist + pipelining. */
  ansibleEnv(mode) {
    const cpDir = join(this.sshDir, 'ansible-cp');
    mkdirSync(cpDir, { recursive: true });
    const cfg = join(this.sshDir, 'ansible.cfg');
    // The control sockets live in our directory, so stop() finds every master Ansible opened.
    if (!existsSync(cfg)) writeFileSync(cfg, `[defaults]\n[ssh_connection]\ncontrol_path_dir = ${cpDir}\n`);
    const common = '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR';
    return {
      ...process.env,
      ANSIBLE_CONFIG: cfg,
      ANSIBLE_HOST_KEY_CHECKING: 'False',
      ANSIBLE_NOCOLOR: '1',
      ANSIBLE_LOCAL_TEMP: join(this.sshDir, 'ansible-local'),
      ANSIBLE_SSH_CONTROL_PATH_DIR: cpDir,
      ANSIBLE_SSH_ARGS: mode === 'warm' ? `${common} -o ControlMaster=auto -o ControlPersist=600s` : `${common} -o ControlMaster=no`,
      ANSIBLE_PIPELINING: mode === 'warm' ? 'True' : 'False',
      ANSIBLE_DEPRECATION_WARNINGS: 'False',
    };
  }

  /** Closes every ControlMaster we opened, then stops every sshd we started. */
  async stop() {
    const sockets = [];
    for (const d of [this.sshDir, join(this.sshDir, 'ansible-cp')]) {
      try {
        for (const f of readdirSync(d)) if (d !== this.sshDir || f.startsWith('cm-')) sockets.push(join(d, f));
      } catch {
        /* no such directory */
      }
    }
    for (const s of sockets) {
      await run('ssh', ['-o', `ControlPath=${s}`, '-O', 'exit', 'bench-host'], { timeoutMs: 5000 });
    }
    // Any master that did not answer `-O exit`: kill it by pid (its argv names our socket dir).
    const left = await run('pgrep', ['-f', `^ssh: ${this.sshDir}/`]);
    for (const pid of left.stdout
      .split('\n')
      .map(Number)
      .filter((p) => p > 0)) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
    }
    this.leftoverMasters = left.stdout.split('\n').filter(Boolean).length;
    for (const h of this.hosts) {
      try {
        process.kill(h.pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
    }
    await sleep(300);
    for (const h of this.hosts) {
      try {
        process.kill(h.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
}
