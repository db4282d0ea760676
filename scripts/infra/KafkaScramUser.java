import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;

/**
 * Gives a user SCRAM-SHA-256 and SCRAM-SHA-512 credentials on the test broker, so the SASL_SSL
 * listener can be tested with every mechanism the apps accept. On KRaft these live in the cluster's
 * metadata and are set through the Admin API; kafka.sh runs this (Java's single-file source mode)
 * after each start. Usage: java -cp 'libs/*' KafkaScramUser.java BOOTSTRAP USER, with SCRAM_PASSWORD set.
 */
public class KafkaScramUser {
  public static void main(String[] args) throws Exception {
    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    String password = System.getenv("SCRAM_PASSWORD");
    try (Admin admin = Admin.create(props)) {
      // One mechanism per request: Kafka refuses two changes of one user in a request.
      for (ScramMechanism mechanism : List.of(ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512)) {
        ScramCredentialInfo info = new ScramCredentialInfo(mechanism, 4096);
        admin.alterUserScramCredentials(List.of(new UserScramCredentialUpsertion(args[1], info, password)))
            .all()
            .get();
      }
    }
  }
}
