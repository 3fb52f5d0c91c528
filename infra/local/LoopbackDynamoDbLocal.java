import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

/**
 * DynamoDB Local listening on one address only. Its own launcher binds every interface and has
 * no option to choose one, which would put a database without authentication on the network.
 * This builds the server exactly as DynamoDB Local's command line does, then sets the address
 * on its HTTP connectors before they open.
 *
 * <p>Run by infra/local/dynamodb.ts with Java's source-file launcher:
 * {@code java -Ddynamodb.local.host=127.0.0.1 -cp DynamoDBLocal.jar LoopbackDynamoDbLocal.java
 * -port 8000 ...}; every argument is DynamoDB Local's own.
 */
public final class LoopbackDynamoDbLocal {
  private LoopbackDynamoDbLocal() {}

  public static void main(String[] args) throws Exception {
    String host = System.getProperty("dynamodb.local.host", "127.0.0.1");
    DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
    int bound = 0;
    for (Connector connector : jettyServerOf(proxy).getConnectors()) {
      ((ServerConnector) connector).setHost(host);
      bound++;
    }
    // A DynamoDB Local whose internals changed must not quietly listen everywhere.
    if (bound == 0) throw new IllegalStateException("DynamoDB Local has no HTTP connector to bind");
    proxy.start();
  }

  /** The Jetty server inside DynamoDB Local's proxy, found by its type (the field is private). */
  private static Server jettyServerOf(DynamoDBProxyServer proxy) throws IllegalAccessException {
    for (Field field : DynamoDBProxyServer.class.getDeclaredFields()) {
      if (field.getType() == Server.class) {
        field.setAccessible(true);
        return (Server) field.get(proxy);
      }
    }
    throw new IllegalStateException("DynamoDB Local has no Jetty server field to bind");
  }
}
