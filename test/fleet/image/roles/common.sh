# Sourced by every fleet role: host keys, the deploy user, sshd. Key authentication only.
set -eu
# ed25519 and ECDSA only: RSA key generation costs seconds at every fleet start on a small machine.
for t in ed25519 ecdsa; do ssh-keygen -q -t $t -N "" -f /etc/ssh/ssh_host_${t}_key; done
id deploy >/dev/null 2>&1 || useradd --create-home --shell /bin/bash deploy
# No password, but not locked: with UsePAM no, sshd refuses key logins to a locked account.
usermod -p '*' deploy
install -d -m 700 -o deploy -g deploy /home/deploy/.ssh
printf '%s\n' "${AUTHORIZED_KEYS:?AUTHORIZED_KEYS is not set}" > /home/deploy/.ssh/authorized_keys
chown deploy:deploy /home/deploy/.ssh/authorized_keys && chmod 600 /home/deploy/.ssh/authorized_keys
mkdir -p /run/sshd
cat > /etc/ssh/sshd_config.d/baton.conf <<CONF
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowTcpForwarding ${ALLOW_TCP_FORWARDING:-yes}
UsePAM no
MaxSessions 10
CONF
