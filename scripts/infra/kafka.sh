#!/usr/bin/env bash
# Apache Kafka 4.x in KRaft mode (one node: broker + controller) on 127.0.0.1:9092, and the same
# broker secured as real clusters are: on :9094 over SASL_SSL (TLS + SASL: PLAIN, SCRAM-SHA-256 and
# SCRAM-SHA-512), on :9095 over mutual TLS (a client certificate required).
# The broker's jars come from Maven Central through mvn and are cached outside git.
# Usage: kafka.sh start|stop|status|restart|reset
set -euo pipefail
SERVICE=kafka
source "$(dirname "$0")/common.sh"

KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
HOST=127.0.0.1
PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
SECURED_PORT="${KAFKA_SECURED_PORT:-9094}"
MTLS_PORT="${KAFKA_MTLS_PORT:-9095}"
LIBS="$CACHE_DIR/kafka-$KAFKA_VERSION/libs"
DATA="$STATE_DIR/kafka"
PIDFILE="$DATA/kafka.pid"

external_broker() {
  # An operator who points KAFKA_BROKERS elsewhere manages that cluster; we leave it alone.
  [ -n "${KAFKA_BROKERS:-}" ] && [ "$KAFKA_BROKERS" != "$HOST:$PORT" ] && [ "$KAFKA_BROKERS" != "localhost:$PORT" ]
}

fetch_jars() {
  if [ -f "$LIBS/.complete" ]; then return 0; fi
  require_command java "install a Java 17+ runtime (e.g. apt-get install openjdk-17-jre-headless)"
  require_command mvn "install Maven (e.g. apt-get install maven)"
  log "fetching org.apache.kafka:kafka_2.13:$KAFKA_VERSION and its dependencies from Maven Central into $LIBS"
  rm -rf "$LIBS"
  mvn -q -B -f "$ROOT_DIR/scripts/infra/kafka-pom.xml" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$LIBS" \
    || die "mvn could not fetch Kafka $KAFKA_VERSION (is Maven Central reachable?)"
  touch "$LIBS/.complete"
}

JAVA_ARGS=(-Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true
  -Dlog4j2.configurationFile="$ROOT_DIR/scripts/infra/kafka-log4j2.properties"
  -Dkafka.logs.dir="$DATA/logs" -cp "$LIBS/*")
kafka_java() { java "${JAVA_ARGS[@]}" "$@"; }

# The secured listeners' test CA, broker and client certificates and SASL passwords: made once per
# checkout, kept in $DATA/secured (never in git; readable by this user only). The marker is written
# last, so material left half-made by a failed run is made again; its number changes with what is made.
make_secured_material() {
  local dir="$DATA/secured" marker=.complete-2
  [ -f "$dir/$marker" ] && return 0
  require_command openssl "install OpenSSL (e.g. apt-get install openssl)"
  rm -rf "$dir"
  mkdir -p "$dir"
  chmod 700 "$dir"
  local ca=(-CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 -sha256)
  # set -e does not apply inside a subshell followed by ||: every step is chained instead.
  (
    umask 077 && cd "$dir" \
      && openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 -subj "/CN=push-mfa test CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout ca.key -out ca.pem \
      && openssl req -newkey rsa:2048 -nodes -subj "/CN=$HOST" -keyout broker.key -out broker.csr \
      && printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:%s,DNS:localhost\n' "$HOST" >broker.ext \
      && openssl x509 -req -in broker.csr "${ca[@]}" -extfile broker.ext -out broker.pem \
      && openssl req -newkey rsa:2048 -nodes -subj "/CN=pushmfa" -keyout client.key -out client.csr \
      && printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >client.ext \
      && openssl x509 -req -in client.csr "${ca[@]}" -extfile client.ext -out client.pem \
      && cat broker.key broker.pem ca.pem >broker-keystore.pem \
      && openssl rand -hex 16 >password \
      && openssl rand -hex 16 >scram-password \
      && touch "$marker"
  ) >"$DATA/logs/secured-material.log" 2>&1 \
    || { cat "$DATA/logs/secured-material.log" >&2; die "openssl could not make the secured listeners' certificates"; }
}

# What the tests read to connect as a deployment would: written at every start, so it names the
# ports in use now. The SCRAM password differs from PLAIN's, so a mechanism mixed up fails to log in.
write_secured_json() {
  local dir="$DATA/secured" password=$1 scram_password=$2
  (umask 077 && printf '{"brokers":"%s:%s","mtlsBrokers":"%s:%s","caFile":"%s","certFile":"%s","keyFile":"%s","username":"pushmfa","plainPassword":"%s","scramPassword":"%s"}\n' \
    "$HOST" "$SECURED_PORT" "$HOST" "$MTLS_PORT" "$dir/ca.pem" "$dir/client.pem" "$dir/client.key" "$password" "$scram_password" >"$dir/secured.json")
}

write_config() {
  mkdir -p "$DATA/logs"
  make_secured_material
  local password scram_password
  password=$(cat "$DATA/secured/password")
  scram_password=$(cat "$DATA/secured/scram-password")
  write_secured_json "$password" "$scram_password"
  cat >"$DATA/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$PORT,SASL_SSL://$HOST:$SECURED_PORT,MTLS://$HOST:$MTLS_PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT,SASL_SSL://$HOST:$SECURED_PORT,MTLS://$HOST:$MTLS_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,MTLS:SSL,CONTROLLER:PLAINTEXT
listener.name.sasl_ssl.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_pushmfa="$password";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$DATA/secured/broker-keystore.pem
listener.name.mtls.ssl.client.auth=required
listener.name.mtls.ssl.keystore.type=PEM
listener.name.mtls.ssl.keystore.location=$DATA/secured/broker-keystore.pem
listener.name.mtls.ssl.truststore.type=PEM
listener.name.mtls.ssl.truststore.location=$DATA/secured/ca.pem
log.dirs=$DATA/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# A single node: no reason to wait for more members before the first rebalance.
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
PROPS
  # It holds the PLAIN password.
  chmod 600 "$DATA/server.properties"
}

format_storage() {
  [ -f "$DATA/data/meta.properties" ] && return 0
  local cluster_id
  cluster_id=$(kafka_java kafka.tools.StorageTool random-uuid | tail -n 1)
  log "formatting KRaft storage (cluster $cluster_id) in $DATA/data"
  kafka_java kafka.tools.StorageTool format -t "$cluster_id" -c "$DATA/server.properties" >"$DATA/logs/format.log" 2>&1 \
    || { cat "$DATA/logs/format.log" >&2; die "formatting storage failed"; }
}

start() {
  if external_broker; then log "KAFKA_BROKERS=$KAFKA_BROKERS is an external cluster; not starting a local broker"; return 0; fi
  if pid_alive "$PIDFILE"; then
    log "already running (pid $(cat "$PIDFILE")) on $HOST:$PORT"
    port_open $HOST "$SECURED_PORT" && port_open $HOST "$MTLS_PORT" \
      || log "WARNING: it has no secured listeners on :$SECURED_PORT and :$MTLS_PORT (started by an older version of this script): run 'bash scripts/infra/kafka.sh restart'"
    return 0
  fi
  if port_open $HOST "$PORT"; then die "$HOST:$PORT is taken by another process; stop it, or set KAFKA_PORT to another port (the stack, tests and benchmark follow it)"; fi
  if port_open $HOST "$SECURED_PORT"; then die "$HOST:$SECURED_PORT is taken by another process; stop it or set KAFKA_SECURED_PORT"; fi
  if port_open $HOST "$MTLS_PORT"; then die "$HOST:$MTLS_PORT is taken by another process; stop it or set KAFKA_MTLS_PORT"; fi
  require_command java "install a Java 17+ runtime (e.g. apt-get install openjdk-17-jre-headless)"
  fetch_jars
  write_config
  format_storage
  log "starting Kafka $KAFKA_VERSION (KRaft) on $HOST:$PORT, logs in $DATA/logs"
  nohup java "${JAVA_ARGS[@]}" kafka.Kafka "$DATA/server.properties" >"$DATA/logs/server.out" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  wait_until 90 "accepting connections on $HOST:$PORT" broker_ready \
    || { tail -n 40 "$DATA/logs/server.out" >&2; die "broker did not come up within 90s"; }
  add_scram_user
}

# SCRAM credentials live in the cluster's metadata (KRaft), not in server.properties: set them through
# the Admin API once the broker is up.
add_scram_user() {
  SCRAM_PASSWORD=$(cat "$DATA/secured/scram-password") java -cp "$LIBS/*" \
    -Dlog4j2.configurationFile="$ROOT_DIR/scripts/infra/kafka-log4j2.properties" -Dkafka.logs.dir="$DATA/logs" \
    "$ROOT_DIR/scripts/infra/KafkaScramUser.java" "$HOST:$PORT" pushmfa >"$DATA/logs/scram-user.log" 2>&1 \
    || { cat "$DATA/logs/scram-user.log" >&2; die "could not give the test user its SCRAM credentials"; }
}

broker_ready() {
  pid_alive "$PIDFILE" || { tail -n 40 "$DATA/logs/server.out" >&2; die "broker exited during start-up"; }
  port_open $HOST "$PORT" && port_open $HOST "$SECURED_PORT" && port_open $HOST "$MTLS_PORT" \
    && grep -q "Transition from STARTING to STARTED" "$DATA/logs/server.out" 2>/dev/null
}

status() {
  if external_broker; then log "external cluster at $KAFKA_BROKERS"; return 0; fi
  if pid_alive "$PIDFILE" && port_open $HOST "$PORT"; then log "running (pid $(cat "$PIDFILE")) on $HOST:$PORT"; else log "not running"; return 1; fi
}

case "${1:-}" in
  start) start ;;
  stop) external_broker && { log "external cluster; nothing to stop"; exit 0; }; stop_pid "$PIDFILE" 30 ;;
  restart) stop_pid "$PIDFILE" 30; start ;;
  status) status ;;
  reset) stop_pid "$PIDFILE" 30; rm -rf "$DATA"; log "data removed" ;;
  *) echo "usage: $0 start|stop|status|restart|reset" >&2; exit 2 ;;
esac
