package strom.reference;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * `list` prints the scenarios' names; `run NAME` runs one against the broker in $BOOTSTRAP and
 * prints what it observed as one JSON object on stdout. A state the scenario waited for in
 * vain, or an error it did not expect, is recorded in that object ("unreached", "failed") and
 * ends the scenario there: it is an observation of the broker. Only a scenario that cannot
 * run at all (no such name, no $BOOTSTRAP) exits non-zero.
 */
public final class Main {
    private Main() {}

    /** One scenario: records its observations into the map, in a fixed order. */
    interface Scenario {
        void run(Session session, Map<String, Object> seen) throws Exception;
    }

    static Map<String, Scenario> scenarios() {
        Map<String, Scenario> all = new TreeMap<>();
        Topics.register(all);
        Groups.register(all);
        GroupAdmin.register(all);
        Transactions.register(all);
        return all;
    }

    public static void main(String[] args) {
        Map<String, Scenario> all = scenarios();
        if (args.length == 1 && args[0].equals("list")) {
            all.keySet().forEach(System.out::println);
            return;
        }
        if (args.length != 2 || !args[0].equals("run")) {
            System.err.println("usage: list | run NAME");
            System.exit(2);
        }
        Scenario scenario = all.get(args[1]);
        if (scenario == null) {
            System.err.println("no scenario named " + args[1]);
            System.exit(2);
        }
        String bootstrap = System.getenv("BOOTSTRAP");
        if (bootstrap == null || bootstrap.isEmpty()) {
            System.err.println("BOOTSTRAP (host:port of the broker) is not set");
            System.exit(2);
        }
        Map<String, Object> seen = new LinkedHashMap<>();
        try (Session session = new Session(args[1], bootstrap)) {
            scenario.run(session, seen);
        } catch (Session.Unreached e) {
            seen.put("unreached", e.getMessage());
        } catch (Exception e) {
            System.err.println(args[1] + ": unexpected error");
            e.printStackTrace();
            seen.put("failed", Session.error(e));
        }
        System.out.println(Json.write(seen));
        System.out.flush();
        // Clients' threads may linger for a moment after close; the observations are out.
        System.exit(0);
    }
}
