import ca.uhn.hl7v2.DefaultHapiContext;
import ca.uhn.hl7v2.HapiContext;
import ca.uhn.hl7v2.app.HL7Service;
import ca.uhn.hl7v2.model.Message;
import ca.uhn.hl7v2.protocol.ReceivingApplication;
import ca.uhn.hl7v2.util.Terser;
import ca.uhn.hl7v2.util.idgenerator.InMemoryIDGenerator;
import java.util.Map;

/**
 * HAPI HL7v2's SimpleServer (MLLP) as a downstream receiver the engine did not write. Its
 * application parses each message with HAPI, prints what it read, one line per message, and
 * answers with HAPI's own ACK (AA):
 *   RECEIVED \t MSH-10 \t MSH-9.1^MSH-9.2 \t PID-3.1 \t OBR-3.1
 * "LISTENING <port>" is printed once the server accepts connections. Stops when stdin closes.
 */
public class HapiReceiver {
  public static void main(String[] args) throws Exception {
    int port = Integer.parseInt(args[0]);
    HapiContext ctx = new DefaultHapiContext();
    // HAPI's default ACK control ids come from a file (id_file) in the working directory; a test
    // receiver must not write into the checkout.
    ctx.getParserConfiguration().setIdGenerator(new InMemoryIDGenerator());
    HL7Service server = ctx.newServer(port, false);
    server.registerApplication("*", "*", new ReceivingApplication<Message>() {
      public Message processMessage(Message m, Map<String, Object> meta) throws ca.uhn.hl7v2.HL7Exception {
        Terser t = new Terser(m);
        String line = "RECEIVED\t" + t.get("/MSH-10") + "\t" + t.get("/MSH-9-1") + "^" + t.get("/MSH-9-2")
            + "\t" + t.get("/.PID-3-1") + "\t" + String.valueOf(t.get("/.OBR-3-1"));
        synchronized (System.out) {
          System.out.println(line);
          System.out.flush();
        }
        try {
          return m.generateACK();
        } catch (java.io.IOException e) {
          throw new ca.uhn.hl7v2.HL7Exception(e);
        }
      }

      public boolean canProcess(Message m) {
        return true;
      }
    });
    server.startAndWait();
    System.out.println("LISTENING " + port);
    System.out.flush();
    while (System.in.read() != -1) {
      // runs until the test closes stdin (or kills the process)
    }
    server.stopAndWait();
    ctx.close();
  }
}
