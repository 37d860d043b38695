import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.Permission;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.apache.rocketmq.tools.command.MQAdminStartup;

/**
 * Runs many Java 4.9.7 {@code mqadmin} command lines in ONE JVM, so that a suite of ~75 commands
 * pays the JVM start-up once instead of once per command.
 *
 * <p>Usage: {@code MqadminBatch <commands-file>}. Each line of the file is one command:
 * {@code id TAB timeout-seconds TAB arg0 TAB arg1 ...} (the arguments exactly as given to
 * {@code bin/mqadmin}). Every command runs through {@link MQAdminStartup#main0} on its own thread in
 * its own {@link ThreadGroup}; whatever any thread of that group (the command thread and the client
 * threads it starts) writes to {@code System.out} / {@code System.err} is captured for that command
 * only, so a command that was given up on cannot spill into the next one. The output is printed
 * framed:
 *
 * <pre>
 * @@MQA-OUT id
 * ...stdout...
 * @@MQA-ERR id
 * ...stderr...
 * @@MQA-END id STATUS MILLIS
 * </pre>
 *
 * where STATUS is {@code ok}, {@code timeout} (still running at its deadline: abandoned) or
 * {@code exit=N} (it called {@code System.exit(N)}, which the security manager below turns into an
 * exception instead of ending the batch; {@code ServerUtil.parseCmdLine} exits on bad options and
 * on {@code -h}). Needs {@code -Djava.security.manager=allow} on Java 17+.
 *
 * <p>{@code main0} appends a new instance of every subcommand to the static list on each call and
 * then runs the first match, so without care every run would reuse the first run's instance (and
 * {@code sendMessage} caches its producer in it: a second run finds it shut down). The list is
 * emptied before each command, so each gets fresh instances, as in its own process.
 */
public final class MqadminBatch {
    /** Reaches MQAdminStartup's protected static list of subcommand instances. */
    private static final class Commands extends MQAdminStartup {
        static void reset() {
            subCommandList.clear();
        }
    }

    private static final String MARK = "@@MQA-";

    /** Capture buffers of the running commands, by thread group. */
    private static final Map<ThreadGroup, Buffers> CAPTURES = new ConcurrentHashMap<>();
    /** Exit codes asked for, by thread group. */
    private static final Map<ThreadGroup, Integer> EXITS = new ConcurrentHashMap<>();

    private static final class Buffers {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        final ByteArrayOutputStream err = new ByteArrayOutputStream();
    }

    /** The command's group of the current thread, if it belongs to one. */
    private static ThreadGroup commandGroup() {
        ThreadGroup g = Thread.currentThread().getThreadGroup();
        while (g != null) {
            if (CAPTURES.containsKey(g)) {
                return g;
            }
            g = g.getParent();
        }
        return null;
    }

    /** Routes bytes to the current command's buffer, or to {@code fallback} outside commands. */
    private static final class Router extends OutputStream {
        private final boolean err;
        private final PrintStream fallback;

        Router(boolean err, PrintStream fallback) {
            this.err = err;
            this.fallback = fallback;
        }

        private OutputStream target() {
            ThreadGroup g = commandGroup();
            if (g == null) {
                return fallback;
            }
            Buffers b = CAPTURES.get(g);
            if (b == null) {
                return fallback;
            }
            return err ? b.err : b.out;
        }

        @Override
        public void write(int b) {
            OutputStream t = target();
            synchronized (t) {
                try {
                    t.write(b);
                } catch (IOException ignored) {
                    // ByteArrayOutputStream / PrintStream never throw
                }
            }
        }

        @Override
        public void write(byte[] b, int off, int len) {
            OutputStream t = target();
            synchronized (t) {
                try {
                    t.write(b, off, len);
                } catch (IOException ignored) {
                    // ByteArrayOutputStream / PrintStream never throw
                }
            }
        }
    }

    /** Turns System.exit inside a command into an exception; everything else is allowed. */
    private static final class NoExit extends SecurityManager {
        @Override
        public void checkPermission(Permission perm) {
        }

        @Override
        public void checkPermission(Permission perm, Object context) {
        }

        @Override
        public void checkExit(int status) {
            ThreadGroup g = commandGroup();
            if (g != null) {
                EXITS.putIfAbsent(g, status);
                throw new SecurityException("mqadmin called System.exit(" + status + ")");
            }
        }
    }

    public static void main(String[] argv) throws Exception {
        List<String> lines = Files.readAllLines(Paths.get(argv[0]), StandardCharsets.UTF_8);
        PrintStream realOut = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, "UTF-8");
        PrintStream realErr = System.err;
        System.setOut(new PrintStream(new Router(false, realErr), true, "UTF-8"));
        System.setErr(new PrintStream(new Router(true, realErr), true, "UTF-8"));
        System.setSecurityManager(new NoExit());

        for (String line : lines) {
            if (line.isEmpty()) {
                continue;
            }
            String[] fields = line.split("\t", -1);
            String id = fields[0];
            long timeoutMs = Long.parseLong(fields[1]) * 1000L;
            String[] args = Arrays.copyOfRange(fields, 2, fields.length);

            Commands.reset();
            ThreadGroup group = new ThreadGroup("mqadmin-" + id);
            Buffers buffers = new Buffers();
            CAPTURES.put(group, buffers);
            Thread t = new Thread(group, () -> {
                try {
                    MQAdminStartup.main0(args, null);
                } catch (Throwable e) {
                    // What escapes main0 (it catches Exception only) would end bin/mqadmin
                    // with exit code 1.
                    e.printStackTrace();
                    EXITS.putIfAbsent(group, 1);
                }
            }, "mqadmin-" + id);
            t.setDaemon(true);
            long start = System.nanoTime();
            t.start();
            t.join(timeoutMs);
            long millis = (System.nanoTime() - start) / 1_000_000L;
            String status;
            if (t.isAlive()) {
                status = "timeout";
                t.interrupt();
            } else if (EXITS.containsKey(group)) {
                status = "exit=" + EXITS.get(group);
            } else {
                status = "ok";
            }
            String out;
            String err;
            synchronized (buffers.out) {
                out = buffers.out.toString(StandardCharsets.UTF_8);
            }
            synchronized (buffers.err) {
                err = buffers.err.toString(StandardCharsets.UTF_8);
            }
            // An abandoned command keeps its group (its late output goes to its own buffer, never
            // to the next command's); a finished one lets its buffers go.
            if (!status.equals("timeout")) {
                CAPTURES.put(group, new Buffers());
            }
            realOut.print(MARK + "OUT " + id + "\n" + out);
            if (!out.isEmpty() && !out.endsWith("\n")) {
                realOut.print("\n");
            }
            realOut.print(MARK + "ERR " + id + "\n" + err);
            if (!err.isEmpty() && !err.endsWith("\n")) {
                realOut.print("\n");
            }
            realOut.print(MARK + "END " + id + " " + status + " " + millis + "\n");
            realOut.flush();
        }
        realOut.flush();
        // Client threads of abandoned commands may still run: end the JVM regardless.
        Runtime.getRuntime().halt(0);
    }
}
