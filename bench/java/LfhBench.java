// LinuxForHealth hl7v2-fhir-converter on the bench messages, one thread, no validation: the
// Java peer of bench/convert.mjs. Compiled and run by bench/run.mjs against the jars Maven puts
// in ~/.cache/hl7-engine/. Prints one JSON object per message on stdout.
//   java -cp <jars>:<classes> LfhBench <warmupSeconds> <seconds> <label>=<file> ...
import io.github.linuxforhealth.hl7.ConverterOptions;
import io.github.linuxforhealth.hl7.HL7ToFHIRConverter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

public final class LfhBench {
  private LfhBench() {}

  private static final class Rate {
    final double perSecond;
    final long sink;

    Rate(double perSecond, long sink) {
      this.perSecond = perSecond;
      this.sink = sink;
    }
  }

  private static Rate measure(HL7ToFHIRConverter c, ConverterOptions o, String msg, double seconds) {
    long budget = (long) (seconds * 1e9);
    long start = System.nanoTime();
    long n = 0;
    long sink = 0;
    while (System.nanoTime() - start < budget) {
      sink += c.convert(msg, o).length();
      n++;
    }
    return new Rate(n / ((System.nanoTime() - start) / 1e9), sink);
  }

  private static int count(String s, String needle) {
    int n = 0;
    for (int i = s.indexOf(needle); i >= 0; i = s.indexOf(needle, i + 1)) n++;
    return n;
  }

  public static void main(String[] args) throws Exception {
    double warmup = Double.parseDouble(args[0]);
    double seconds = Double.parseDouble(args[1]);
    HL7ToFHIRConverter converter = new HL7ToFHIRConverter();
    // Bundle type and zone set, no validation and no pretty printing: closest to the engine's path.
    ConverterOptions options =
        new ConverterOptions.Builder()
            .withBundleType(org.hl7.fhir.r4.model.Bundle.BundleType.TRANSACTION)
            .withZoneIdText("+00:00")
            .build();
    for (int i = 2; i < args.length; i++) {
      int eq = args[i].indexOf('=');
      String label = args[i].substring(0, eq);
      String msg = Files.readString(Path.of(args[i].substring(eq + 1)), StandardCharsets.ISO_8859_1);
      String out = converter.convert(msg, options);
      int entries = out == null ? 0 : count(out, "\"fullUrl\"");
      measure(converter, options, msg, warmup);
      Rate r = measure(converter, options, msg, seconds);
      System.out.println(
          "{\"label\":\"" + label + "\",\"msgsPerSecond\":" + r.perSecond + ",\"entries\":" + entries
              + ",\"sink\":" + (r.sink % 1000) + "}");
    }
  }
}
