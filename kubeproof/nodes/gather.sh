# kubeproof node gatherer: everything the node assertions read, in ONE execution.
#
# POSIX sh (dash, busybox ash); only sh builtins, coreutils, grep, sed, find and df. It reads and
# never writes, and never fails as a whole: a missing file or command gives an empty section with
# its exit status. Output, parsed by gather.py:
#
#   @@kubeproof-gather 1
#   @@kubeproof-section NAME
#   <the section's stdout and stderr, verbatim: this is also the evidence users see>
#   <one newline, always printed; the parser strips exactly one, so the output above is exact>
#   @@kubeproof-end NAME rc=N
#   ...
#   @@kubeproof-gather-end
#
# Inside a section "@@kubeproof-item KEY" starts a keyed block (a file, a path), with the same
# trailing newline rule. The history-* sections start with "@@kubeproof-history key=value ...".
# Secrets stay on the node: only CERTIFICATE blocks of PEM files and the
# certificate lines of kubeconfigs are printed, and credential values in config files are redacted.

PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LC_ALL=C
export PATH LC_ALL

# k3s-server/k3s-agent: k3s runs its kubelet inside that process (the wrapper execs data/<hash>/bin/k3s-server).
DAEMONS=' kubelet k3s-server k3s-agent dockerd containerd crio kube-proxy calico-node bird felix flanneld cilium-agent weaver kube-apiserver etcd '
# SYSCTLS (the /proc/sys paths the sysctls section reads) is set by gather.py before this script.
FS_PATHS='/ /var/lib/kubelet /var/lib/docker /var/lib/containerd /var/lib/containers'
# /srv/kubernetes: kOps's nodeup keeps the cluster CA and the control plane's PKI there;
# /etc/srv/kubernetes on COS (kOps's PathSrvKubernetes, kube-up's configure-helper.sh);
# /etc/kubernetes/certs: AKS's (AgentBaker's CSE: the cluster CA, kubeletserver.crt, client.crt);
# /var/lib/minikube/certs: minikube's kubeadm certificatesDir.
PKI_DIRS='/etc/kubernetes/pki /etc/kubernetes/ssl /etc/kubernetes/certs /var/lib/kubelet/pki /srv/kubernetes /etc/srv/kubernetes
/var/lib/minikube/certs /var/lib/rancher/k3s/server/tls /var/lib/rancher/rke2/server/tls'
# k3s/RKE2 (and Rancher's embedded k3s, 004) keep the kubelet's certificates at the top of agent/,
# beside containerd's state: only that level is read, never the image store below it.
AGENT_PKI_DIRS='/var/lib/rancher/k3s/agent /var/lib/rancher/rke2/agent'

section() {
	name=$1
	shift
	printf '@@kubeproof-section %s\n' "$name"
	# A subshell, so that nothing a section does (cd, exit, variables) leaks into the next one.
	( "$@" ) </dev/null 2>&1
	rc=$?
	printf '\n@@kubeproof-end %s rc=%d\n' "$name" "$rc"
}

item() {
	printf '@@kubeproof-item %s\n' "$1"
	shift
	"$@"
	st=$?
	printf '\n'
	return $st
}

have() { command -v "$1" >/dev/null 2>&1; }

# The arguments that exist, one per line (unmatched globs stay literal and drop out here).
existing() {
	for p in "$@"; do
		[ -e "$p" ] && printf '%s\n' "$p"
	done
}

# emit FILTER FILE...: each existing regular file as an item, through FILTER. 1 if none exists.
emit() {
	filter=$1
	shift
	none=1
	for f in "$@"; do
		[ -f "$f" ] || continue
		none=0
		item "$f" "$filter" "$f"
	done
	return $none
}

# Credentials in runtime and kubelet configs never leave the node: passwords in URLs and the
# values of password/auth/token keys (TOML, YAML or JSON; a JSON line keeps its comma).
redact() {
	sed -E -e 's#(://)[^/@[:space:]"]*@#\1<redacted>@#g' \
		-e 's/^([[:space:]]*"?(password|auth|identitytoken|token)"?[[:space:]]*[:=]).*[^,](,?)[[:space:]]*$/\1 "<redacted>"\3/' "$1"
}

# Only CERTIFICATE blocks leave the node. A block ends at the next line starting with "-----", so
# a truncated certificate followed by a private key cannot drag the key out, and only the markers
# and base64 lines of the block are printed.
cert_blocks() {
	sed -n '/^-----BEGIN CERTIFICATE-----/,/^-----/{
/^-----BEGIN CERTIFICATE-----/p
/^-----END CERTIFICATE-----/p
\%^[A-Za-z0-9+/=]*[[:space:]]*$%p
}' "$1"
}

# "PID COMM" of every process named like a node daemon. Read once: several sections use it.
find_daemons() {
	for c in /proc/[0-9]*/comm; do
		read -r comm 2>/dev/null <"$c" || continue
		case $DAEMONS in
		*" $comm "*)
			p=${c#/proc/}
			printf '%s %s\n' "${p%/comm}" "$comm"
			;;
		esac
	done
}

argv_of() {
	tr '\0' '\n' 2>/dev/null <"/proc/$1/cmdline"
}

processes() {
	node_ns=$(readlink /proc/self/ns/pid)
	printf '%s\n' "$DAEMON_PIDS" | while read -r pid comm; do
		[ -n "$pid" ] || continue
		printf '%s comm %s\n' "$pid" "$comm"
		# The node's own daemons share our PID namespace; a container's (a kind node's kubelet
		# seen from its host, a pod's calico-node) do not.
		ns=$(readlink "/proc/$pid/ns/pid")
		printf '%s pidns %s\n' "$pid" "$([ -n "$ns" ] && [ "$ns" = "$node_ns" ] && echo node || echo other)"
		argv_of "$pid" | while IFS= read -r arg || [ -n "$arg" ]; do
			printf '%s argv %s\n' "$pid" "$arg"
		done
		grep -s -E '^Max (open files|processes) ' "/proc/$pid/limits" | sed "s/^/$pid limit /"
	done
}

# Where the kubelet's flags are configured: read while it is down, and shown as evidence.
KUBELET_FLAG_FILES='/var/lib/kubelet/kubeadm-flags.env /etc/default/kubelet /etc/sysconfig/kubelet
/etc/systemd/system/kubelet.service.d/*.conf /etc/systemd/system/kubelet.service
/lib/systemd/system/kubelet.service /usr/lib/systemd/system/kubelet.service'

# kubelet_flag NAME: the values of --NAME (either flag form) of the running kubelets, or, when none
# runs, those its flag files set (KUBELET_ARGS="--NAME=v", Environment="... --NAME v").
kubelet_flag() {
	case $DAEMON_PIDS in
	*" kubelet"*)
		printf '%s\n' "$DAEMON_PIDS" | while read -r pid comm; do
			[ "$comm" = kubelet ] && argv_of "$pid" | sed -n -e "s/^--$1=//p" -e "/^--$1\$/{n;p;}"
		done
		;;
	*) sed -n -E "s/.*--$1[= ]+[\"']?([^\"' ]+).*/\1/p" $KUBELET_FLAG_FILES 2>/dev/null ;;
	esac
}

# The kubelet's --config, then the kubeadm default.
kubelet_config_paths() {
	kubelet_flag config
	printf '%s\n' /var/lib/kubelet/config.yaml
}

# The drop-ins the kubelet merges over its config (--config-dir, KEP-3983): the *.conf files under
# the directory and its subdirectories (mergeKubeletConfigurations skips any other file).
kubelet_dropins() {
	dirs=$( (kubelet_flag config-dir; k3s_agent_dirs | sed 's|$|/etc/kubelet.conf.d|') | sort -u)
	[ -n "$dirs" ] || return 1
	emit redact $(for d in $dirs; do [ -d "$d" ] && find "$d" -name '*.conf' ! -type d; done | sort)
}

sysctls() {
	cd /proc/sys || return
	grep -H '' $(existing $SYSCTLS)
}

# "PATH LIVE_DIRS MOUNT_ROOT". The mount's root (mountinfo field 4) is "/" when the whole memory
# hierarchy is visible here; anything else is a bound subtree, whose directories cannot be compared
# with the host-wide num_cgroups of /proc/cgroups.
memory_cgroup_dirs() {
	d=/sys/fs/cgroup/memory
	[ -d "$d" ] || d=/sys/fs/cgroup
	root=$(while read -r _ _ _ r m _; do [ "$m" = "$d" ] && printf '%s\n' "$r"; done </proc/self/mountinfo | tail -n 1)
	# Cgroups removed while find walks (pods ending) make it complain: the count is what it found.
	printf '%s %s %s\n' "$d" "$(find "$d" -xdev -type d 2>/dev/null | wc -l)" "${root:-?}"
}

# The field reports' kmem leak signals under the kubepods memory cgroup (cgroup v1 only).
kmem() {
	for d in /sys/fs/cgroup/memory/kubepods /sys/fs/cgroup/memory/kubepods.slice; do
		[ -d "$d" ] || continue
		grep -H '' $(existing "$d/memory.kmem.usage_in_bytes" "$d/memory.kmem.limit_in_bytes")
		s=$d/memory.kmem.slabinfo
		if [ -e "$s" ]; then
			err=$(cat "$s" 2>&1 >/dev/null)
			rc=$?
			printf '%s slabinfo bytes=%s rc=%s %s\n' "$d" "$(cat "$s" 2>/dev/null | wc -c)" "$rc" "$err"
		else
			printf '%s slabinfo absent\n' "$d"
		fi
	done
}

df_both() {
	df -P -k "$1" && df -P -i "$1"
}

# Where the kubelet and the runtimes keep their state, also when moved off the defaults (002 moved
# docker to /data/docker): the default paths, the running daemons' flags, then the config files.
storage_dirs() {
	printf '%s\n' $FS_PATHS
	printf '%s\n' "$DAEMON_PIDS" | while read -r pid comm; do
		case $comm in
		kubelet) flags='root-dir' ;;
		dockerd) flags='data-root|graph|g' ;;
		containerd) flags='root' ;;
		*) continue ;;
		esac
		argv_of "$pid" | sed -n -E -e "s/^--?($flags)=//p" -e "/^--?($flags)\$/{n;p;}"
	done
	# sed keeps a missing final newline (daemon.json often has none): echo ends each output's line.
	sed -n -E 's/.*"(data-root|graph)"[[:space:]]*:[[:space:]]*"([^"]+)".*/\2/p' /etc/docker/daemon.json 2>/dev/null
	echo
	for f in /etc/containerd/config.toml /etc/containers/storage.conf /etc/crio/crio.conf; do
		sed -n -E 's/^[[:space:]]*(root|graphroot)[[:space:]]*=[[:space:]]*"([^"]+)".*/\2/p' "$f" 2>/dev/null
		echo
	done
}

disk_free() {
	storage_dirs | sort -u | {
		st=0
		while IFS= read -r p; do
			case $p in /*) ;; *) continue ;; esac
			[ -d "$p" ] || continue
			item "$p" df_both "$p" || st=$?
		done
		exit $st
	}
}

certificates() {
	dirs=$(existing $PKI_DIRS)
	agent=$(existing $AGENT_PKI_DIRS)
	[ -n "$dirs$agent" ] || return 1 # find without a directory would search the working directory
	emit cert_blocks $( (
		[ -z "$dirs" ] || find $dirs \( -name '*.crt' -o -name '*.pem' \) ! -name '*-key.pem'
		[ -z "$agent" ] || find $agent -maxdepth 1 \( -name '*.crt' -o -name '*.pem' \) ! -name '*-key.pem'
	) | sort)
}

# The agent directories of running k3s processes, whose embedded kubelet reads the drop-ins k3s
# writes to <data-dir>/agent/etc/kubelet.conf.d and <data-dir>/agent/kubelet.kubeconfig
# (pkg/daemons/agent: its --config-dir and --kubeconfig are on no command line).
k3s_agent_dirs() {
	printf '%s\n' "$DAEMON_PIDS" | while read -r pid comm; do
		case $comm in k3s-server | k3s-agent) ;; *) continue ;; esac
		d=$(argv_of "$pid" | sed -n -e 's/^--data-dir=//p' -e 's/^-d=//p' -e '/^--data-dir$/{n;p;}' -e '/^-d$/{n;p;}' | tail -n 1)
		printf '%s/agent\n' "${d:-/var/lib/rancher/k3s}"
	done
}

# How the kubelet authenticates to the API server: the user entries of its kubeconfigs, key names
# and file paths only (client-certificate, tokenFile, exec's command); embedded data and tokens never leave.
kubelet_kubeconfigs() {
	emit kubeconfig_users $( (kubelet_flag kubeconfig; kubelet_flag bootstrap-kubeconfig
		k3s_agent_dirs | sed 's|$|/kubelet.kubeconfig|') | sort -u)
}

kubeconfig_users() {
	sed -n -E -e '/^users:/,/^[a-z]/{
s/^([[:space:]]*-?[[:space:]]*(client-certificate|client-key|tokenFile|command|name):).*/&/p
s/^([[:space:]]*-?[[:space:]]*(client-certificate-data|client-key-data|token|password|auth-provider|exec|username)):.*/\1: <present>/p
}' "$1"
}

kubeconfig_certificates() {
	grep -H -E '^[[:space:]]*(client-certificate-data|certificate-authority-data):' \
		$(existing /etc/kubernetes/*.conf /var/lib/kubelet/kubeconfig /etc/rancher/k3s/k3s.yaml /etc/rancher/rke2/rke2.yaml)
}

# The installed kubelet's version ("Kubernetes v1.32.4"): which eviction defaults and which
# static-pod semantics apply depend on it. Bounded: a binary that hangs must not hang the gathering.
kubelet_version() {
	have timeout || return 127
	# The node's running kubelet's own binary first (RKE2's is /var/lib/rancher/rke2/bin/kubelet, on
	# no PATH); not a kubelet of a node nested in this one (kind's, seen from its host).
	pid=$(printf '%s\n' "$DAEMON_PIDS" | sed -n 's/^\([0-9]*\) kubelet$/\1/p' | head -n 1)
	if [ -n "$pid" ] && [ -x "/proc/$pid/exe" ] &&
		[ "$(readlink "/proc/$pid/ns/pid")" = "$(readlink /proc/self/ns/pid)" ]; then
		out=$(timeout 5 "/proc/$pid/exe" --version 2>/dev/null)
		case $out in *"Kubernetes v"*) printf '%s\n' "$out" && return 0 ;; esac # else a wrapper: ask PATH's
	fi
	if have kubelet; then
		timeout 5 kubelet --version
	elif [ -n "$(k3s_agent_dirs)" ] && have k3s; then
		timeout 5 k3s --version # "k3s version v1.33.4+k3s1": its kubelet is that release's
	else
		return 127
	fi
}

docker_info() {
	have docker || return 127
	t=
	have timeout && t='timeout 10'
	# Reduced on the node by docker's own template: the full info can carry proxy credentials.
	f='{"Driver":{{json .Driver}},"DriverStatus":{{json .DriverStatus}},'
	f=$f'"DockerRootDir":{{json .DockerRootDir}},"CgroupDriver":{{json .CgroupDriver}},'
	f=$f'"CgroupVersion":{{json .CgroupVersion}},"ServerVersion":{{json .ServerVersion}}}'
	$t docker info --format "$f"
}

docker_root() {
	[ -d /var/lib/docker ] || return 1
	ls -1A /var/lib/docker
}

containerd_snapshots() {
	for d in /var/lib/containerd/io.containerd.snapshotter.v1.*; do
		[ -d "$d" ] || continue
		printf '%s %s\n' "${d##*/}" "$(ls -A "$d/snapshots" 2>/dev/null | wc -l)"
	done
}

# The container runtimes' systemd units with their drop-ins, and systemd's own manager defaults:
# what a runtime started by systemd gets (LimitNOFILE=, else DefaultLimitNOFILE=), running or not.
UNIT_DIRS='/etc/systemd/system /run/systemd/system /usr/local/lib/systemd/system /usr/lib/systemd/system /lib/systemd/system'
runtime_units() {
	units=$(for u in containerd docker crio; do
		for d in $UNIT_DIRS; do existing "$d/$u.service" "$d/$u.service.d/"*.conf; done
	done)
	emit redact $units $(existing /etc/systemd/system.conf /etc/systemd/system.conf.d/*.conf \
		/run/systemd/system.conf.d/*.conf /usr/local/lib/systemd/system.conf.d/*.conf \
		/usr/lib/systemd/system.conf.d/*.conf /lib/systemd/system.conf.d/*.conf)
}

systemd_version() {
	have systemctl || return 127
	systemctl --version
}

# rpm first (the PLEG report names an RPM build), but a busybox rpm applet may answer on dpkg systems.
systemd_package() {
	if have rpm && out=$(rpm -q systemd 2>/dev/null); then
		printf '%s\n' "$out"
		return 0
	fi
	have dpkg-query || return 127
	dpkg-query -W -f='${Package}-${Version}\n' systemd
}

# The AuthenticationConfiguration files kube-apiserver manifests name (--authentication-config).
auth_config_paths() {
	sed -n -E 's/.*--authentication-config[= ]"?([^" ]+)"?.*/\1/p' /etc/kubernetes/manifests/*.yaml \
		/etc/kubernetes/manifests/*.yml 2>/dev/null | sort -u
}

# History: the lines of the last HISTORY_DAYS days matching the catalog's patterns for one log
# (HISTORY_KERNEL, HISTORY_KUBELET, HISTORY_RUNTIME: newline-separated EREs, set by gather.py before
# this script), newest first and at most HISTORY_BYTES bytes of them: filtered here, so a node
# sends its symptoms, never megabytes of journal.
matching() {
	grep -E -i -e "$1" | head -c "$HISTORY_BYTES"
}

journal_history() {
	patterns=$1
	shift
	[ -n "$patterns" ] || return 0 # grep -e '' would match every line
	have journalctl || return 127
	printf '@@kubeproof-history source=journal cap=%s%s\n' "$HISTORY_BYTES" "${header_extra:-}"
	journalctl -q --no-pager -o short-iso --reverse --since "-${HISTORY_DAYS}d" "$@" | matching "$patterns"
}

# Kernel messages from the journal across boots (journalctl -k would stop at this boot, and 001 read
# the log after a crash). A journald with ReadKMsg=no (kind nodes) or no journald has none: then the
# kernel's ring buffer, this boot only, timed by the node's uptime. A node in a container (systemd's
# /run/systemd/container: kind's say podman or docker) shares its host's kernel and its messages.
kernel_history() {
	[ -n "$HISTORY_KERNEL" ] || return 0
	header_extra=" container=$(cat /run/systemd/container 2>/dev/null || echo none)"
	if have journalctl && [ -n "$(journalctl -q --no-pager -n 1 _TRANSPORT=kernel 2>/dev/null)" ]; then
		journal_history "$HISTORY_KERNEL" _TRANSPORT=kernel
		return
	fi
	have dmesg || return 127
	readkmsg=$(sed -n 's/^ReadKMsg=//p' $(existing /etc/systemd/journald.conf /etc/systemd/journald.conf.d/*.conf) </dev/null | tail -n 1)
	printf '@@kubeproof-history source=dmesg cap=%s uptime=%s readkmsg=%s%s\n' "$HISTORY_BYTES" \
		"$(cut -d ' ' -f 1 /proc/uptime)" "${readkmsg:-unset}" "$header_extra"
	dmesg | grep -E -i -e "$HISTORY_KERNEL" | tail -c "$HISTORY_BYTES"
}

DAEMON_PIDS=$(find_daemons)

printf '@@kubeproof-gather 1\n'
section clock date -u +%Y-%m-%dT%H:%M:%SZ
section kernel grep -H '' /proc/sys/kernel/osrelease /proc/sys/kernel/version /proc/sys/kernel/hostname /proc/cmdline
section os-release cat /etc/os-release
section cgroup-mounts grep -E '^[^ ]+ [^ ]+ cgroup2? ' /proc/mounts
section proc-cgroups cat /proc/cgroups
section memory-cgroup-dirs memory_cgroup_dirs
section cgroup-stat grep -H '' $(existing /sys/fs/cgroup/cgroup.stat /sys/fs/cgroup/unified/cgroup.stat)
section kmem kmem
section processes processes
section sysctl sysctls
section sockstat grep -H '' $(existing /proc/net/sockstat /proc/net/sockstat6)
section df disk_free
section kubelet-version kubelet_version
section kubelet-config emit redact $(kubelet_config_paths | sort -u)
section kubelet-config-dir kubelet_dropins
section kubelet-kubeconfig kubelet_kubeconfigs
section kubelet-env emit redact $KUBELET_FLAG_FILES
section certificates certificates
section kubeconfig-certificates kubeconfig_certificates
section runtime-config emit redact /etc/docker/daemon.json /etc/containerd/config.toml \
	/etc/containers/storage.conf /etc/crio/crio.conf
section docker-info docker_info
section docker-root docker_root
section containerd-snapshots containerd_snapshots
section systemd-version systemd_version
section runtime-units runtime_units
section systemd-package systemd_package
section apiserver-auth-config emit redact $(auth_config_paths)
section static-pods emit redact /etc/kubernetes/manifests/*.yaml /etc/kubernetes/manifests/*.yml \
	/etc/kubernetes/manifests/*.json
section history-kernel kernel_history
section history-kubelet journal_history "$HISTORY_KUBELET" -u kubelet -u k3s -u k3s-agent -u rke2-server -u rke2-agent
section history-runtime journal_history "$HISTORY_RUNTIME" -u containerd -u docker -u crio
printf '@@kubeproof-gather-end\n'
exit 0
