/// Which firewall front end a host uses: ufw (Debian/Ubuntu) or firewalld (the RHEL family).
public enum FirewallTool: String, Codable, Sendable { case ufw, firewalld }
