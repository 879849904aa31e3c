package org.saqshy.bench;

import com.espertech.esper.common.client.EPCompiled;
import com.espertech.esper.common.client.EventBean;
import com.espertech.esper.common.client.configuration.Configuration;
import com.espertech.esper.compiler.client.CompilerArguments;
import com.espertech.esper.compiler.client.EPCompiler;
import com.espertech.esper.compiler.client.EPCompilerProvider;
import com.espertech.esper.runtime.client.EPDeployment;
import com.espertech.esper.runtime.client.EPEventService;
import com.espertech.esper.runtime.client.EPRuntime;
import com.espertech.esper.runtime.client.EPRuntimeProvider;
import com.espertech.esper.runtime.client.EPStatement;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPInputStream;

/**
 * The Esper side of `make bench BENCH=esper` (tests/bench/esper.py drives it; docs/esper.md).
 *
 * <p>Usage: {@code EsperBench FILE.jsonl[.gz] OUT_OF_ORDERNESS_S EPL_FILE}. The lines are read into memory
 * once; then every "run" line on stdin is one round: a fresh runtime, every line parsed with Jackson,
 * deduplicated by id, the clock advanced, the event sent, and one JSON line on stdout with the seconds, the
 * matches per statement and their anchor event ids. Esper runs in event time: the internal timer is off and
 * the clock is the newest event time seen minus the out-of-orderness, the watermark Saqshy keeps.
 */
public final class EsperBench {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String[] STATEMENTS = {"fire_then_call", "three_calls", "sos_no_unit"};

  private EsperBench() {}

  public static void main(String[] args) throws Exception {
    List<byte[]> lines = readLines(Path.of(args[0]));
    long oooUs = (long) (Double.parseDouble(args[1]) * 1_000_000L);
    String epl = Files.readString(Path.of(args[2]));
    Configuration config = configuration();
    EPCompiled compiled = EPCompilerProvider.getCompiler().compile(epl, new CompilerArguments(config));
    System.err.printf("esper: %d lines in memory, EPL compiled%n", lines.size());
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String cmd;
    int round = 0;
    while ((cmd = in.readLine()) != null) {
      if (!cmd.trim().equals("run")) {
        continue;
      }
      System.out.println(round(lines, oooUs, config, compiled, round++));
      System.out.flush();
    }
  }

  static Configuration configuration() {
    Configuration config = new Configuration();
    config.getRuntime().getThreading().setInternalTimerEnabled(false);
    config.getCommon().getTimeSource().setTimeUnit(TimeUnit.MICROSECONDS);
    config.getCompiler().addPlugInSingleRowFunction("dist", Geo.class.getName(), "dist");
    Map<String, Object> base = new LinkedHashMap<>();
    base.put("id", String.class);
    base.put("ts", long.class);
    base.put("lat", Double.class);
    base.put("lon", Double.class);
    Map<String, Object> video = new LinkedHashMap<>(base);
    video.put("analytic", String.class);
    video.put("confidence", Double.class);
    Map<String, Object> call = new LinkedHashMap<>(base);
    call.put("category", String.class);
    call.put("geocode", String.class);
    Map<String, Object> gps = new LinkedHashMap<>(base);
    gps.put("status", String.class);
    gps.put("unitType", String.class);
    config.getCommon().addEventType("Video", video);
    config.getCommon().addEventType("Call", call);
    config.getCommon().addEventType("Sos", new LinkedHashMap<>(base));
    config.getCommon().addEventType("Gps", gps);
    return config;
  }

  static String round(List<byte[]> lines, long oooUs, Configuration config, EPCompiled compiled, int round)
      throws Exception {
    EPRuntime runtime = EPRuntimeProvider.getRuntime("bench-" + round, config);
    runtime.initialize();
    EPDeployment deployment = runtime.getDeploymentService().deploy(compiled);
    Map<String, Set<String>> anchors = new LinkedHashMap<>();
    for (String name : STATEMENTS) {
      Set<String> ids = new TreeSet<>();
      anchors.put(name, ids);
      EPStatement stmt = runtime.getDeploymentService().getStatement(deployment.getDeploymentId(), name);
      stmt.addListener((newData, oldData, s, r) -> {
        for (EventBean row : newData) {
          ids.add((String) row.get("anchor"));
        }
      });
    }
    EPEventService events = runtime.getEventService();
    long start = System.nanoTime();
    Set<String> seen = new HashSet<>(lines.size() * 2);
    long high = Long.MIN_VALUE;
    long clock = Long.MIN_VALUE;
    int sent = 0;
    int bad = 0;
    int duplicates = 0;
    for (byte[] line : lines) {
      JsonNode node;
      try {
        node = JSON.readTree(line);
      } catch (IOException exc) {
        bad++;
        continue;
      }
      if (!(node instanceof ObjectNode) || !node.hasNonNull("id") || !node.hasNonNull("time")) {
        bad++;
        continue;
      }
      String type = node.path("type").asText("");
      String name = eventType(type);
      if (type.startsWith("ref.")) {
        continue; // reference rows: no clock, none of the three patterns reads them
      }
      long ts;
      try {
        ts = micros(node.get("time").asText());
      } catch (DateTimeParseException exc) {
        bad++;
        continue;
      }
      String id = node.get("id").asText();
      if (!seen.add(id)) {
        duplicates++;
        continue;
      }
      if (ts > high) {
        high = ts;
        long watermark = ts - oooUs;
        if (clock == Long.MIN_VALUE) {
          events.advanceTime(watermark); // the runtime starts at the wall clock: set it to event time first
          clock = watermark;
        } else if (watermark > clock) {
          clock = watermark;
          // a span, not a jump: timers and window expiries due on the way run in time order
          events.advanceTimeSpan(clock);
        }
      }
      if (name == null) {
        continue; // an event none of the statements selects (ANPR reads, accidents): parsed, not sent
      }
      events.sendEventMap(fields(node, name, id, ts), name);
      sent++;
    }
    if (clock != Long.MIN_VALUE) {
      events.advanceTimeSpan(clock + TimeUnit.HOURS.toMicros(1)); // end of input: event time runs out
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    runtime.destroy();
    StringBuilder out = new StringBuilder();
    out.append(String.format("{\"round\": %d, \"seconds\": %.6f, \"lines\": %d, \"sent\": %d, \"bad\": %d, "
        + "\"duplicates\": %d, \"anchors\": {", round, seconds, lines.size(), sent, bad, duplicates));
    int i = 0;
    for (Map.Entry<String, Set<String>> e : anchors.entrySet()) {
      out.append(i++ > 0 ? ", " : "").append('"').append(e.getKey()).append("\": ");
      out.append(JSON.writeValueAsString(new ArrayList<>(e.getValue())));
    }
    return out.append("}}").toString();
  }

  static String eventType(String type) {
    switch (type) {
      case "video.detection":
        return "Video";
      case "call.112":
        return "Call";
      case "sos.press":
        return "Sos";
      case "unit.gps":
        return "Gps";
      default:
        return null;
    }
  }

  static Map<String, Object> fields(JsonNode node, String name, String id, long ts) {
    Map<String, Object> m = new HashMap<>(16);
    m.put("id", id);
    m.put("ts", ts);
    JsonNode loc = node.get("location");
    if (loc != null && loc.hasNonNull("lat") && loc.hasNonNull("lon")) {
      m.put("lat", loc.get("lat").asDouble());
      m.put("lon", loc.get("lon").asDouble());
    }
    JsonNode data = node.path("data");
    switch (name) {
      case "Video":
        m.put("analytic", text(data, "analytic"));
        m.put("confidence", data.hasNonNull("confidence") ? data.get("confidence").asDouble() : null);
        break;
      case "Call":
        m.put("category", text(data, "category"));
        m.put("geocode", text(data, "geocode"));
        break;
      case "Gps":
        m.put("status", text(data, "status"));
        m.put("unitType", text(data, "unit_type"));
        break;
      default:
        break;
    }
    return m;
  }

  static String text(JsonNode data, String field) {
    JsonNode v = data.get(field);
    return v == null || v.isNull() ? null : v.asText();
  }

  /** Event time in microseconds since the epoch (Saqshy's resolution). The simulator's fixed form
   *  (2026-11-21T19:00:00.102000Z) is read digit by digit (Instant.parse took a tenth of a round); any other
   *  ISO 8601 form goes through java.time. */
  static long micros(String time) {
    if (time.length() == 27 && time.charAt(26) == 'Z' && time.charAt(19) == '.' && time.charAt(10) == 'T') {
      long days = LocalDate.of(digits(time, 0, 4), digits(time, 5, 7), digits(time, 8, 10)).toEpochDay();
      long secs = days * 86400L + digits(time, 11, 13) * 3600L + digits(time, 14, 16) * 60L + digits(time, 17, 19);
      return secs * 1_000_000L + digits(time, 20, 26);
    }
    Instant t;
    try {
      t = Instant.parse(time);
    } catch (DateTimeParseException exc) {
      t = OffsetDateTime.parse(time).toInstant();
    }
    return t.getEpochSecond() * 1_000_000L + t.getNano() / 1_000;
  }

  static int digits(String s, int from, int to) {
    int v = 0;
    for (int i = from; i < to; i++) {
      char c = s.charAt(i);
      if (c < '0' || c > '9') {
        throw new DateTimeParseException("not a digit", s, i);
      }
      v = v * 10 + (c - '0');
    }
    return v;
  }

  static List<byte[]> readLines(Path path) throws IOException {
    byte[] all;
    try (InputStream raw = Files.newInputStream(path)) {
      InputStream in = path.toString().endsWith(".gz") ? new GZIPInputStream(raw, 1 << 16) : raw;
      ByteArrayOutputStream buf = new ByteArrayOutputStream(1 << 24);
      in.transferTo(buf);
      all = buf.toByteArray();
    }
    List<byte[]> lines = new ArrayList<>();
    int from = 0;
    for (int i = 0; i < all.length; i++) {
      if (all[i] == '\n') {
        if (i > from) {
          lines.add(java.util.Arrays.copyOfRange(all, from, i));
        }
        from = i + 1;
      }
    }
    if (from < all.length) {
      lines.add(java.util.Arrays.copyOfRange(all, from, all.length));
    }
    return lines;
  }
}
