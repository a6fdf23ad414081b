import ca.uhn.hl7v2.DefaultHapiContext;
import ca.uhn.hl7v2.HapiContext;
import ca.uhn.hl7v2.model.Message;
import ca.uhn.hl7v2.parser.PipeParser;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;

/**
 * Parses each file with HAPI HL7v2 (default validation: primitive formats, required structure),
 * encodes it again and parses that, so a message HAPI only half understands fails. Prints one line
 * per file: OK, the file, HAPI's structure name and its re-encoding (CR as \r); or FAIL and why.
 * Exit 0 when every file passed.
 */
public class HapiCheck {
  public static void main(String[] files) throws Exception {
    HapiContext ctx = new DefaultHapiContext();
    PipeParser parser = ctx.getPipeParser();
    int failed = 0;
    for (String f : files) {
      String text = new String(Files.readAllBytes(Paths.get(f)), StandardCharsets.UTF_8);
      try {
        Message m = parser.parse(text);
        String encoded = parser.encode(m);
        String again = parser.encode(parser.parse(encoded));
        if (!encoded.equals(again)) throw new IllegalStateException("HAPI's re-encoding is not stable");
        System.out.println("OK\t" + f + "\t" + m.getName() + "\t" + encoded.replace("\r", "\\r"));
      } catch (Exception e) {
        failed++;
        String why = String.valueOf(e.getMessage()).replace('\n', ' ').replace('\r', ' ');
        System.out.println("FAIL\t" + f + "\t" + e.getClass().getSimpleName() + ": " + why);
      }
    }
    System.exit(failed == 0 ? 0 : 1);
  }
}
