package strom.reference;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;

/**
 * A JSON writer for the values a scenario records: maps, collections,
 * strings, numbers, booleans and null. Anything else is written as its string, so that an
 * unexpected value shows up in the comparison instead of failing the scenario.
 */
final class Json {
    private Json() {}

    static String write(Object value) {
        StringBuilder out = new StringBuilder();
        write(value, out);
        return out.toString();
    }

    private static void write(Object value, StringBuilder out) {
        if (value == null) {
            out.append("null");
        } else if (value instanceof Boolean || value instanceof Integer || value instanceof Long
                || value instanceof Short) {
            out.append(value);
        } else if (value instanceof Map<?, ?> map) {
            out.append('{');
            boolean first = true;
            // A map with an order of its own keeps it; any other (Map.of's order changes from
            // one JVM to the next) is written sorted, so that the same observations are the
            // same bytes.
            Collection<? extends Map.Entry<?, ?>> entries = map.entrySet();
            if (!(map instanceof LinkedHashMap || map instanceof SortedMap)) {
                List<Map.Entry<?, ?>> sorted = new ArrayList<>(map.entrySet());
                sorted.sort(Comparator.comparing(e -> String.valueOf(e.getKey())));
                entries = sorted;
            }
            for (Map.Entry<?, ?> entry : entries) {
                if (!first) {
                    out.append(',');
                }
                first = false;
                string(String.valueOf(entry.getKey()), out);
                out.append(':');
                write(entry.getValue(), out);
            }
            out.append('}');
        } else if (value instanceof Collection<?> list) {
            out.append('[');
            boolean first = true;
            for (Object item : list) {
                if (!first) {
                    out.append(',');
                }
                first = false;
                write(item, out);
            }
            out.append(']');
        } else {
            string(value.toString(), out);
        }
    }

    /** A JSON string: quotes, backslashes and every control character escaped. */
    private static void string(String s, StringBuilder out) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                default -> {
                    // U+2028 and U+2029 are valid JSON but break JavaScript readers; escaping
                    // them costs nothing.
                    if (c < 0x20 || c == '\u2028' || c == '\u2029') {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }
}
